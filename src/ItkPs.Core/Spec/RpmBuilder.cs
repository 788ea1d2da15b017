using System.Diagnostics;

namespace ItkPs.Core.Spec;

/// <summary>An rpmbuild run that failed, with the stage it was in and the end of its log.</summary>
public sealed class RpmBuildException : Exception
{
    public RpmBuildException(string stage, int exitCode, IReadOnlyList<string> lastLines)
        : base($"rpmbuild failed in {stage} (exit {exitCode}). Last lines of the log:{Environment.NewLine}{string.Join(Environment.NewLine, lastLines)}")
    {
        Stage = stage; ExitCode = exitCode; LastLines = lastLines;
    }

    public string Stage { get; }
    public int ExitCode { get; }
    public IReadOnlyList<string> LastLines { get; }
}

/// <summary>What to build: a spec (its folder holds the sources) or a source RPM, plus the ITK patches.</summary>
public sealed class RpmBuildRequest
{
    public string? SpecPath { get; init; }
    public string? SourceRpm { get; init; }
    public required string ItkPatchPath { get; init; }
    public required string TopDir { get; init; }
    public IReadOnlyDictionary<string, string> Defines { get; init; } = new Dictionary<string, string>();
    public bool NoDeps { get; init; }
    public SpecEditor Editor { get; init; } = new();
}

/// <summary>
/// Runs the recipe with the real rpmbuild under a private _topdir: stage sources and the local
/// ITK patches (never downloaded), edit the spec, rpmbuild -bb, report the RPMs written.
/// Output lines and stage changes are handed to the caller on the calling thread, so a cmdlet
/// can turn them into Write-Verbose and Write-Progress.
/// </summary>
public static class RpmBuilder
{
    /// <summary>The stages rpmbuild announces, in order.</summary>
    public static readonly IReadOnlyList<string> Stages = ["%prep", "%build", "%install", "%check", "Wrote:"];

    /// <summary>Checks the patch folder holds the whole series; returns the missing file names.</summary>
    public static IReadOnlyList<string> MissingPatches(string folder, SpecEditor editor) =>
        editor.Series.Select(s => s.File).Where(f => !File.Exists(Path.Combine(folder, f))).ToList();

    /// <summary>True when %dist expands to nothing with these defines (the RPMs would lose their dist tag).</summary>
    public static bool DistUndefined(IReadOnlyDictionary<string, string> defines)
    {
        var args = defines.SelectMany(d => new[] { "--define", $"{d.Key} {d.Value}" }).Concat(["--eval", "%{?dist}"]);
        return Run("rpm", args, _ => { }).Output.All(string.IsNullOrWhiteSpace);
    }

    /// <summary>
    /// Stages everything under TopDir, edits the spec for the source tree its Source0 holds
    /// and returns the edited spec's path with the edit.
    /// </summary>
    /// <exception cref="SourceTreeException">Source0 is there but holds no prefork MPM.</exception>
    public static (string Spec, SpecEditResult Edit) Stage(RpmBuildRequest request, Action<string> log)
    {
        foreach (var d in new[] { "BUILD", "BUILDROOT", "RPMS", "SOURCES", "SPECS", "SRPMS" })
            Directory.CreateDirectory(Path.Combine(request.TopDir, d));
        string sources = Path.Combine(request.TopDir, "SOURCES"), specs = Path.Combine(request.TopDir, "SPECS");
        string spec;
        if (request.SourceRpm is not null)
        {
            var (code, output) = Run("rpm", ["-i", "--define", $"_topdir {request.TopDir}", request.SourceRpm], log);
            if (code != 0) throw new RpmBuildException("unpacking the source RPM", code, output.TakeLast(20).ToList());
            spec = Directory.GetFiles(specs, "*.spec").Single();
        }
        else
        {
            string specPath = Path.GetFullPath(request.SpecPath!);
            foreach (var f in Directory.GetFiles(Path.GetDirectoryName(specPath)!).Where(f => f != specPath && !f.EndsWith(".spec")))
                File.Copy(f, Path.Combine(sources, Path.GetFileName(f)), overwrite: true);
            spec = Path.Combine(specs, Path.GetFileName(specPath));
            File.Copy(specPath, spec, overwrite: true);
        }
        foreach (var (_, file) in request.Editor.Series)
            File.Copy(Path.Combine(request.ItkPatchPath, file), Path.Combine(sources, file), overwrite: true);
        var tree = MpmTree.ForSpec(spec, [sources], log);
        var edit = request.Editor.Edit(File.ReadAllText(spec), Path.GetFileName(spec), tree);
        File.WriteAllText(spec, edit.Text);
        log(edit.Changed ? $"edited {spec}: {string.Join(", ", edit.Applied)}" : $"{spec} already has the mpm-itk edits");
        log(edit.Layout);
        return (spec, edit);
    }

    /// <summary>rpmbuild -bb; returns the RPM files written. Throws <see cref="RpmBuildException"/> on failure.</summary>
    public static IReadOnlyList<string> Build(RpmBuildRequest request, string spec, Action<string> log, Action<string> stage)
    {
        var args = new List<string> { "-bb", "--define", $"_topdir {request.TopDir}" };
        // httpd.spec is written for Red Hat, where /bin/sh is bash (pushd, function); on
        // Debian /bin/sh is dash. A -Define of _buildshell still wins.
        if (!request.Defines.ContainsKey("_buildshell") && File.Exists("/bin/bash")) args.AddRange(["--define", "_buildshell /bin/bash"]);
        foreach (var d in request.Defines) args.AddRange(["--define", $"{d.Key} {d.Value}"]);
        if (request.NoDeps) args.Add("--nodeps");
        args.Add(spec);
        string current = "reading the spec (before %prep)";
        var written = new List<string>();
        var (code, output) = Run("rpmbuild", args, line =>
        {
            log(line);
            foreach (var s in Stages.Take(4))
                if (line.StartsWith($"Executing({s})", StringComparison.Ordinal)) { current = s; stage(s); }
            if (line.StartsWith("Wrote: ", StringComparison.Ordinal))
            {
                if (current != "Wrote:") { current = "Wrote:"; stage("Wrote:"); }
                written.Add(line["Wrote: ".Length..].Trim());
            }
        });
        if (code != 0) throw new RpmBuildException(current, code, output.TakeLast(25).ToList());
        return written;
    }

    /// <summary>Runs a program with stderr merged into stdout, handing each line over as it comes.</summary>
    private static (int Code, List<string> Output) Run(string program, IEnumerable<string> args, Action<string> onLine)
    {
        // sh merges the two streams in order; reading one pipe keeps every callback on this thread.
        var psi = new ProcessStartInfo("/bin/sh") { RedirectStandardOutput = true, RedirectStandardInput = true };
        foreach (var a in new[] { "-c", "exec \"$0\" \"$@\" 2>&1", program }.Concat(args)) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {program}");
        p.StandardInput.Close();
        var output = new List<string>();
        for (string? line; (line = p.StandardOutput.ReadLine()) is not null;)
        {
            output.Add(line);
            onLine(line);
        }
        p.WaitForExit();
        return (p.ExitCode, output);
    }
}
