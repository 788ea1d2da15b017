using System.Text.RegularExpressions;
using ItkPs.Core.Config;

namespace ItkPs.Core.Spec;

/// <summary>A planned edit of one file: its new text and the unified diff; unchanged when already done.</summary>
public sealed record FileEdit(string Path, string Description, string OriginalText, string Text, string Diff)
{
    public bool Changed => Text != OriginalText;
}

/// <summary>
/// Switches an RPM host between httpd (prefork) and httpd.itk the way the recipe does:
/// /etc/sysconfig/httpd gets HTTPD=/usr/sbin/httpd.itk, and php.conf's &lt;IfModule prefork.c&gt;
/// that loads libphp becomes &lt;IfModule !worker.c&gt; so mod_php also loads under itk.
/// <see cref="Disable"/> undoes exactly that. Both are idempotent; files are only planned
/// here, the caller writes them (atomically, with backups).
/// </summary>
public static class HttpdSwitch
{
    public const string ItkBinary = "/usr/sbin/httpd.itk";
    private const string Marker = "# ItkPs: active before Enable-ItkHttpd";

    public static string SysconfigPath(string root) => Path.Combine(root, "etc/sysconfig/httpd");
    public static string PhpConfPath(string root) => Path.Combine(root, "etc/httpd/conf.d/php.conf");

    public static IReadOnlyList<FileEdit> Enable(string root) => Plan(root, enable: true);
    public static IReadOnlyList<FileEdit> Disable(string root) => Plan(root, enable: false);

    private static List<FileEdit> Plan(string root, bool enable)
    {
        var edits = new List<FileEdit>();
        string sysconfig = SysconfigPath(root);
        string oldSys = File.Exists(sysconfig) ? File.ReadAllText(sysconfig) : "";
        string newSys = enable ? EnableSysconfig(oldSys) : DisableSysconfig(oldSys);
        if (File.Exists(sysconfig) || enable)
            edits.Add(Edit(sysconfig, enable ? $"HTTPD={ItkBinary}" : "HTTPD back to the default (prefork)", oldSys, newSys));

        string php = PhpConfPath(root);
        if (File.Exists(php))
        {
            string oldPhp = File.ReadAllText(php);
            edits.Add(Edit(php, enable ? "mod_php loads under itk too (<IfModule !worker.c>)" : "mod_php back to <IfModule prefork.c>",
                oldPhp, SwitchPhp(oldPhp, php, enable)));
        }
        return edits;
    }

    private static FileEdit Edit(string path, string what, string oldText, string newText) =>
        new(path, what, oldText, newText, oldText == newText ? "" : TextDiff.Unified(oldText, newText, path, path));

    private static readonly Regex ActiveHttpd = new(@"^\s*HTTPD\s*=\s*(?<value>\S*)\s*$", RegexOptions.Multiline);

    internal static string EnableSysconfig(string text)
    {
        var lines = text.Split('\n').ToList();
        bool finalNewline = text.EndsWith('\n') || text.Length == 0;
        if (finalNewline && lines.Count > 0 && lines[^1] == "") lines.RemoveAt(lines.Count - 1);
        int active = lines.FindIndex(l => ActiveHttpd.IsMatch(l));
        if (active >= 0 && ActiveHttpd.Match(lines[active]).Groups["value"].Value == ItkBinary) return text;
        string line = $"HTTPD={ItkBinary}";
        if (active >= 0)
        {
            // Keep what was there, commented and marked, so Disable-ItkHttpd can bring it back.
            lines[active] = "#" + lines[active].Trim() + " " + Marker;
            lines.Insert(active + 1, line);
        }
        else
        {
            int lastComment = lines.FindLastIndex(l => Regex.IsMatch(l, @"^\s*#\s*HTTPD\s*="));
            lines.Insert(lastComment >= 0 ? lastComment + 1 : lines.Count, line);
        }
        return string.Join('\n', lines) + (finalNewline ? "\n" : "");
    }

    internal static string DisableSysconfig(string text)
    {
        var lines = text.Split('\n').ToList();
        int ours = lines.FindIndex(l => ActiveHttpd.Match(l) is { Success: true } m && m.Groups["value"].Value == ItkBinary);
        if (ours < 0) return text;
        lines.RemoveAt(ours);
        int kept = lines.FindIndex(l => l.EndsWith(" " + Marker, StringComparison.Ordinal));
        if (kept >= 0) lines[kept] = lines[kept][1..^(Marker.Length + 1)];
        return string.Join('\n', lines);
    }

    /// <summary>Flips the IfModule around the LoadModule of libphp, found structurally.</summary>
    internal static string SwitchPhp(string text, string path, bool enable)
    {
        var doc = ConfigDocument.Parse(text, path);
        string from = enable ? "prefork.c" : "!worker.c", to = enable ? "!worker.c" : "prefork.c";
        var target = doc.Roots.FirstOrDefault(n => n.Is("IfModule") && n.Args.Count == 1 && n.Args[0] == from
            && n.Children.Any(c => c.Is("LoadModule") && c.Args.Count == 2 && Regex.IsMatch(Path.GetFileName(c.Args[1]), @"^libphp[\d.]*\.so$")));
        if (target is null) return text;
        var sb = new System.Text.StringBuilder();
        foreach (var e in doc.Entries)
        {
            if (e == target.Start)
            {
                string nl = e.Raw.EndsWith("\r\n") ? "\r\n" : e.Raw.EndsWith('\n') ? "\n" : "";
                sb.Append(e.Indent).Append("<IfModule ").Append(to).Append('>').Append(nl);
            }
            else sb.Append(e.Raw);
        }
        return sb.ToString();
    }
}
