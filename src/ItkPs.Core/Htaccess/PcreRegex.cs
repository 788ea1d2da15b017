using System.Collections.Concurrent;
using System.Text;
using System.Text.RegularExpressions;

namespace ItkPs.Core.Htaccess;

/// <summary>
/// Regular expressions as Apache writes them (PCRE), run by .NET's engine. The two dialects agree
/// on what configuration files use, except for a few PCRE spellings that .NET reads differently or
/// not at all; those are rewritten: POSIX bracket classes ([[:alpha:]]), Python-style named groups
/// ((?P&lt;n&gt;…)), \Q…\E quoting, \h, and possessive quantifiers (taken as greedy ones, which
/// match the same strings here: a configuration pattern matches or not, it never relies on the
/// backtracking difference). Compiled patterns are shared: the same few rules are matched all day.
/// </summary>
public static class PcreRegex
{
    private static readonly ConcurrentDictionary<(string, bool), Regex> Cache = new();
    private static readonly TimeSpan MatchTimeout = TimeSpan.FromSeconds(2);

    /// <summary>Compiles (or fetches) a pattern; throws <see cref="ArgumentException"/> with a readable message when it is not one.</summary>
    public static Regex Get(string pattern, bool ignoreCase = false)
    {
        var key = (pattern, ignoreCase);
        if (Cache.TryGetValue(key, out var rx)) return rx;
        var options = RegexOptions.CultureInvariant | (ignoreCase ? RegexOptions.IgnoreCase : RegexOptions.None);
        rx = new Regex(Translate(pattern), options, MatchTimeout);
        if (Cache.Count < 10_000) Cache[key] = rx;
        return rx;
    }

    /// <summary>True when the pattern compiles; the error otherwise.</summary>
    public static bool TryCompile(string pattern, bool ignoreCase, out string? error)
    {
        try { Get(pattern, ignoreCase); error = null; return true; }
        catch (ArgumentException e) { error = e.Message; return false; }
    }

    /// <summary>Matches, treating a pattern that runs away (catastrophic backtracking) as no match, as PCRE's match limit does.</summary>
    public static Match? Match(Regex rx, string input)
    {
        try
        {
            var m = rx.Match(input);
            return m.Success ? m : null;
        }
        catch (RegexMatchTimeoutException) { return null; }
    }

    /// <summary>Whether it matches, without building the groups; a runaway pattern is no match.</summary>
    public static bool IsMatch(Regex rx, string input)
    {
        try { return rx.IsMatch(input); }
        catch (RegexMatchTimeoutException) { return false; }
    }

    private static readonly Dictionary<string, string> Posix = new()
    {
        ["alpha"] = "a-zA-Z", ["digit"] = "0-9", ["alnum"] = "a-zA-Z0-9", ["upper"] = "A-Z", ["lower"] = "a-z",
        ["space"] = @" \t\n\r\f\v", ["blank"] = @" \t", ["punct"] = @"!-/:-@\[-`{-~", ["xdigit"] = "0-9A-Fa-f",
        ["word"] = @"\w", ["cntrl"] = @"\x00-\x1f\x7f", ["print"] = @"\x20-\x7e", ["graph"] = @"\x21-\x7e",
    };

    /// <summary>The .NET spelling of a PCRE pattern.</summary>
    public static string Translate(string p)
    {
        if (p.IndexOf("[:", StringComparison.Ordinal) < 0 && p.IndexOf("(?P", StringComparison.Ordinal) < 0
            && p.IndexOf('\\') < 0 && p.IndexOf("+", StringComparison.Ordinal) < 0)
            return p;
        var sb = new StringBuilder(p.Length + 16);
        bool inClass = false;
        for (int i = 0; i < p.Length; i++)
        {
            char c = p[i];
            if (c == '\\' && i + 1 < p.Length)
            {
                char n = p[i + 1];
                if (n == 'Q')
                {
                    int end = p.IndexOf(@"\E", i + 2, StringComparison.Ordinal);
                    string lit = end < 0 ? p[(i + 2)..] : p[(i + 2)..end];
                    sb.Append(inClass ? lit.Replace(@"\", @"\\").Replace("]", @"\]") : Regex.Escape(lit));
                    i = end < 0 ? p.Length : end + 1;
                    continue;
                }
                if (n == 'h') { sb.Append(inClass ? @" \t" : @"[ \t]"); i++; continue; }
                if (n == 'H' && !inClass) { sb.Append(@"[^ \t]"); i++; continue; }
                sb.Append(c).Append(n);
                i++;
                continue;
            }
            if (inClass)
            {
                if (c == '[' && i + 1 < p.Length && p[i + 1] == ':')
                {
                    int close = p.IndexOf(":]", i + 2, StringComparison.Ordinal);
                    if (close > 0)
                    {
                        string name = p[(i + 2)..close];
                        bool negate = name.StartsWith('^');
                        if (Posix.TryGetValue(negate ? name[1..] : name, out var set) && !negate)
                        {
                            sb.Append(set);
                            i = close + 1;
                            continue;
                        }
                    }
                }
                if (c == '[') { sb.Append(@"\["); continue; } // a literal in PCRE; .NET would read class subtraction
                if (c == ']') inClass = false;
                sb.Append(c);
                continue;
            }
            if (c == '[')
            {
                inClass = true;
                sb.Append(c);
                // a ']' (after an optional '^') right at the start is a literal in both dialects
                if (i + 1 < p.Length && p[i + 1] == '^') { sb.Append('^'); i++; }
                if (i + 1 < p.Length && p[i + 1] == ']') { sb.Append(@"\]"); i++; }
                continue;
            }
            if (c == '(' && i + 2 < p.Length && p[i + 1] == '?' && p[i + 2] == 'P')
            {
                if (i + 3 < p.Length && p[i + 3] == '<') { sb.Append("(?<"); i += 3; continue; }
                if (i + 3 < p.Length && p[i + 3] == '=')
                {
                    int close = p.IndexOf(')', i);
                    if (close > 0) { sb.Append(@"\k<").Append(p[(i + 4)..close]).Append('>'); i = close; continue; }
                }
            }
            if (c == '+' && i > 0 && p[i - 1] is '*' or '+' or '?' or '}' && (i < 2 || p[i - 2] != '\\'))
                continue; // possessive: taken as greedy
            sb.Append(c);
        }
        return sb.ToString();
    }
}
