using System.Diagnostics;
using System.Text.RegularExpressions;

namespace ItkPs.Core.Spec;

/// <summary>A source tree (or tarball) that cannot be read, or holds no prefork MPM to copy.</summary>
public sealed class SourceTreeException : Exception
{
    public SourceTreeException(string treePath, string message) : base($"{treePath}: {message}") { TreePath = treePath; }

    /// <summary>The tarball or folder that was read.</summary>
    public string TreePath { get; }
}

/// <summary>
/// Where an httpd 2.2 source tree keeps its prefork MPM, and where itk goes. The ITK series
/// is written against <c>server/mpm/experimental/itk</c> (02 renames prefork.c to itk.c
/// there, 03 makes configure treat itk as an experimental MPM), so itk goes there in every
/// tree; what differs between trees is where the prefork to copy lives and whether
/// <c>server/mpm/experimental</c> exists at all (a tree that moved its MPMs has none, and
/// %prep then creates it).
/// </summary>
public sealed record MpmTree(string PreforkDirectory, bool HasExperimental, string? Source)
{
    /// <summary>The folder, relative to the top of the tree, that the ITK series patches.</summary>
    public const string ItkDirectory = "server/mpm/experimental/itk";

    /// <summary>httpd 2.2 as released: assumed when no source tree was read.</summary>
    public static MpmTree Upstream { get; } = new("server/mpm/prefork", true, null);

    /// <summary>One line for the operator: where prefork was found and where itk goes.</summary>
    public string Description
    {
        get
        {
            string from = Source is null ? "assumed, no source tree read" : $"in {System.IO.Path.GetFileName(Source.TrimEnd('/'))}";
            string itk = HasExperimental ? ItkDirectory
                : $"{ItkDirectory}, created in %prep (this tree has no server/mpm/experimental; the ITK series patches that path)";
            return $"prefork: {PreforkDirectory} ({from}); itk goes to {itk}";
        }
    }

    private static readonly Regex PreforkSource = new(@"(?:^|/)(?<dir>(?:[^/]+/)*prefork)/prefork\.c$");

    /// <summary>Reads a tarball (anything tar -t lists) or an unpacked tree.</summary>
    /// <exception cref="SourceTreeException">It cannot be listed, or has no prefork/prefork.c.</exception>
    public static MpmTree Inspect(string path)
    {
        IEnumerable<string> entries;
        if (Directory.Exists(path))
        {
            // The folder %setup would enter: the given one, or its only subfolder (an unpacked tarball's parent).
            string top = path;
            if (!Directory.Exists(System.IO.Path.Combine(top, "server")) && Directory.GetDirectories(top) is [var only] && Directory.Exists(System.IO.Path.Combine(only, "server")))
                top = only;
            entries = Directory.EnumerateFileSystemEntries(top, "*", SearchOption.AllDirectories)
                .Select(e => System.IO.Path.GetRelativePath(top, e).Replace('\\', '/') + (Directory.Exists(e) ? "/" : ""));
        }
        else if (File.Exists(path)) entries = StripTopFolder(TarList(path));
        else throw new SourceTreeException(path, "no such file or folder.");

        var list = entries.ToList();
        var prefork = list.Select(e => PreforkSource.Match(e)).Where(m => m.Success).Select(m => m.Groups["dir"].Value)
            .OrderBy(d => d == "server/mpm/prefork" ? 0 : 1).ThenBy(d => d.Length).FirstOrDefault()
            ?? throw new SourceTreeException(path, "no prefork/prefork.c in this source tree, so there is no prefork MPM to build itk from. Give the httpd 2.2 source (-SourcePath).");
        bool experimental = list.Any(e => e.StartsWith("server/mpm/experimental/", StringComparison.Ordinal));
        return new MpmTree(prefork, experimental, path);
    }

    /// <summary>
    /// The tree of a spec: its Source0 (the name rpmspec expands) looked up in the given
    /// folders, or <see cref="Upstream"/> when it is not there or rpmspec cannot parse the spec.
    /// </summary>
    public static MpmTree ForSpec(string specPath, IEnumerable<string> sourceFolders, Action<string>? log = null)
    {
        string? name = Source0Name(specPath);
        if (name is null)
        {
            log?.Invoke($"rpmspec could not name Source0 of {specPath}; assuming the upstream httpd 2.2 layout.");
            return Upstream;
        }
        foreach (var folder in sourceFolders)
        {
            string candidate = System.IO.Path.Combine(folder, name);
            if (File.Exists(candidate)) return Inspect(candidate);
        }
        log?.Invoke($"Source0 {name} is not in {string.Join(" or ", sourceFolders)}; assuming the upstream httpd 2.2 layout.");
        return Upstream;
    }

    /// <summary>The file name of Source0 (or an unnumbered Source:) as rpmspec -P expands it.</summary>
    public static string? Source0Name(string specPath)
    {
        var (code, output) = Capture("rpmspec", ["-P", specPath]);
        if (code != 0) return null;
        var tag = output.Split('\n').Select(l => Regex.Match(l, @"^Source0?\s*:\s*(\S+)", RegexOptions.IgnoreCase)).FirstOrDefault(m => m.Success);
        if (tag is null) return null;
        // rpm's "url#/local-name" form names the file after the '#/'.
        string url = tag.Groups[1].Value;
        int rename = url.IndexOf("#/", StringComparison.Ordinal);
        return System.IO.Path.GetFileName(rename >= 0 ? url[(rename + 2)..] : url);
    }

    private static IEnumerable<string> TarList(string tarball)
    {
        var (code, output) = Capture("tar", ["-tf", tarball]);
        if (code != 0) throw new SourceTreeException(tarball, $"tar -tf failed: {output.Trim()}");
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    // Tarballs unpack into one folder (httpd-2.2.15/), which %setup enters.
    private static IEnumerable<string> StripTopFolder(IEnumerable<string> entries)
    {
        var list = entries.Select(e => e.StartsWith("./", StringComparison.Ordinal) ? e[2..] : e).Where(e => e.Length > 0).ToList();
        var tops = list.Select(e => e.Split('/')[0]).Distinct().ToList();
        return tops.Count == 1 && list.Any(e => e.Contains('/')) ? list.Select(e => e.Contains('/') ? e[(e.IndexOf('/') + 1)..] : "").Where(e => e.Length > 0) : list;
    }

    private static (int Code, string Output) Capture(string program, IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        Process p;
        try { p = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception) { return (127, $"{program} is not installed"); }
        using (p)
        {
            var stderr = p.StandardError.ReadToEndAsync();
            string output = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            return (p.ExitCode, p.ExitCode == 0 ? output : output + stderr.Result);
        }
    }
}
