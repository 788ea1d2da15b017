using System.Text;
using System.Text.RegularExpressions;

namespace ItkPs.Core.Spec;

/// <summary>
/// A shell <c>for VAR in LIST; do BODY; done</c> loop in a spec section, on one line or many.
/// RHEL/CentOS 6 and Fedora's httpd 2.2 build, install and check their extra MPMs in such
/// loops, over a macro (<c>for f in %{mpms}; do mpmbuild $f ...; done</c>) or a plain list.
/// </summary>
internal sealed class SpecLoop
{
    private static readonly Regex ForLine = new(@"^(?<head>\s*for\s+(?<var>[A-Za-z_]\w*)\s+in\s+)(?<list>[^;#]*?)(?<tail>\s*(?:[;#].*)?)$");
    // Words that open and close a shell loop; counted to find this loop's own "done".
    private static readonly Regex Keyword = new(@"(?<=^|[\s;&|(])(?:for|while|until|done)(?=$|[\s;&|)])");
    private static readonly Regex MacroRef = new(@"^%\{\??(?<name>[A-Za-z_]\w*)\}$|^%(?<name>[A-Za-z_]\w*)$");

    private SpecLoop(int line, Match m, string body)
    {
        Line = line; Variable = m.Groups["var"].Value; Head = m.Groups["head"].Value; List = m.Groups["list"].Value; Tail = m.Groups["tail"].Value; Body = body;
        Words = List.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        Macros = Words.Select(w => MacroRef.Match(w)).Where(x => x.Success).Select(x => x.Groups["name"].Value).Distinct().ToList();
    }

    /// <summary>The index of the <c>for</c> line.</summary>
    public int Line { get; }
    public string Variable { get; }
    public string Head { get; }
    public string List { get; }
    public string Tail { get; }
    /// <summary>The commands between <c>do</c> and the loop's <c>done</c>, joined by newlines.</summary>
    public string Body { get; }
    public IReadOnlyList<string> Words { get; }
    /// <summary>The macros the list consists of (<c>%{mpms}</c>, <c>%mpms</c>), by name.</summary>
    public IReadOnlyList<string> Macros { get; }

    /// <summary>True when the list itself names itk.</summary>
    public bool ListsItk => Words.Contains("itk");

    /// <summary>The <c>for</c> line with itk added to the end of its list.</summary>
    public string WithItk => Head + List.TrimEnd() + " itk" + Tail;

    /// <summary>
    /// True when the body matches <paramref name="pattern"/> with <c>VAR</c> standing for a
    /// use of the loop variable (<c>$f</c>, <c>${f}</c>).
    /// </summary>
    public bool BodyUses(string pattern) =>
        Regex.IsMatch(Body, pattern.Replace("VAR", $@"\$(?:{Variable}\b|\{{{Variable}\}})"));

    /// <summary>The loops that start in lines [from, to), in order.</summary>
    public static IEnumerable<SpecLoop> In(IReadOnlyList<string> lines, int from, int to)
    {
        for (int i = from; i < to; i++)
        {
            var m = ForLine.Match(lines[i]);
            if (m.Success) yield return new SpecLoop(i, m, BodyOf(lines, i, m.Groups["tail"].Value, to));
        }
    }

    // From after the list to the "done" that closes this loop (nested loops counted). A
    // heuristic, not a shell parser: a quoted "for" or "done" would end the body early or
    // late, which only widens or narrows what the body is searched for.
    private static string BodyOf(IReadOnlyList<string> lines, int forLine, string tail, int to)
    {
        var body = new StringBuilder();
        int depth = 1;
        for (int i = forLine; i < to; i++)
        {
            string text = i == forLine ? tail : lines[i];
            var comment = Regex.Match(text, @"(?:^|\s)#");
            if (comment.Success) text = text[..comment.Index];
            foreach (Match k in Keyword.Matches(text))
            {
                depth += k.Value == "done" ? -1 : 1;
                if (depth == 0) return body.Append(text[..k.Index]).ToString();
            }
            body.Append(text).Append('\n');
        }
        return body.ToString();
    }
}
