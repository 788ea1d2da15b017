using System.Text;
using System.Text.RegularExpressions;

namespace ItkPs.Core.Spec;

/// <summary>
/// Whether a line of a %files section takes a given installed path into its package: a glob
/// (<c>%{_sbindir}/httpd*</c>), the path itself, or a directory above it (rpm packages a
/// listed directory with everything below it, unless it is marked %dir).
/// </summary>
internal static class FilesEntry
{
    // The macros httpd.spec writes the path of httpd.itk with, valued as Red Hat's rpm defines them.
    private static readonly (string Macro, string Value)[] Dirs =
        [("_sbindir", "/usr/sbin"), ("_exec_prefix", "/usr"), ("_prefix", "/usr"), ("_usr", "/usr")];
    private static readonly Regex Attribute = new(@"^%(?:attr|config|verify|caps|lang)(?:\([^)]*\))?\s*");
    // Lines that never take an installed file from the build root by this rule.
    private static readonly Regex NotAPath = new(@"^%(?:dir|exclude|doc|docdir|license|readme|ghost|defattr|if|ifarch|ifnarch|ifos|ifnos|else|elif|endif)\b");

    /// <summary>True when <paramref name="line"/> takes <paramref name="path"/> (absolute, e.g. /usr/sbin/httpd.itk).</summary>
    public static bool Picks(string line, string path)
    {
        string entry = line.Trim();
        if (entry.Length == 0 || entry.StartsWith('#')) return false;
        for (Match m; (m = Attribute.Match(entry)).Success && m.Length > 0;) entry = entry[m.Length..];
        if (NotAPath.IsMatch(entry)) return false;
        var candidates = new List<string> { path };
        for (string p = path; p.LastIndexOf('/') is var slash and > 0;) candidates.Add(p = p[..slash]);
        foreach (var token in entry.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
        {
            string expanded = Dirs.Aggregate(token.Trim('"'), (t, d) => t.Replace($"%{{{d.Macro}}}", d.Value).Replace($"%{d.Macro}", d.Value)).TrimEnd('/');
            if (!expanded.StartsWith('/')) continue;
            var glob = GlobRegex(expanded);
            if (candidates.Any(c => glob.IsMatch(c))) return true;
        }
        return false;
    }

    /// <summary>rpm's glob(3) with braces: * and ? stop at '/', [..] classes, {a,b} alternatives.</summary>
    internal static Regex GlobRegex(string glob)
    {
        var sb = new StringBuilder("^");
        int braces = 0;
        for (int i = 0; i < glob.Length; i++)
        {
            char c = glob[i];
            switch (c)
            {
                case '*': sb.Append("[^/]*"); break;
                case '?': sb.Append("[^/]"); break;
                case '[':
                    int close = glob.IndexOf(']', i + 2);
                    if (close < 0) { sb.Append(@"\["); break; }
                    string cls = glob[(i + 1)..close];
                    sb.Append('[').Append(cls.StartsWith('!') ? "^" + Regex.Escape(cls[1..]) : Regex.Escape(cls)).Append(']');
                    i = close;
                    break;
                case '{': braces++; sb.Append("(?:"); break;
                case '}' when braces > 0: braces--; sb.Append(')'); break;
                case ',' when braces > 0: sb.Append('|'); break;
                default: sb.Append(Regex.Escape(c.ToString())); break;
            }
        }
        // An unclosed brace is no alternative in glob(3) either: the text is then literal.
        return new Regex(braces == 0 ? sb.Append('$').ToString() : "^" + Regex.Escape(glob) + "$");
    }
}
