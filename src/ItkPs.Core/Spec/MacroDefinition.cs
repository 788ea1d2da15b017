using System.Text.RegularExpressions;

namespace ItkPs.Core.Spec;

/// <summary>
/// One definition of a spec macro: <c>%define NAME BODY</c> or <c>%global NAME BODY</c> on a
/// line of its own (continued by trailing backslashes), or inside a conditional such as
/// <c>%{!?NAME:%global NAME BODY}</c>. A spec may define a macro several times, e.g. once
/// in each branch of an <c>%if</c>.
/// </summary>
internal sealed record MacroDefinition(int FirstLine, int LastLine, string Body, string WithItk)
{
    /// <summary>True when itk is one of the words of the body.</summary>
    public bool NamesItk => Body.Split([' ', '\t', '\\'], StringSplitOptions.RemoveEmptyEntries).Contains("itk");

    /// <summary>Every definition of <paramref name="name"/>, in order.</summary>
    public static IReadOnlyList<MacroDefinition> All(IReadOnlyList<string> lines, string name)
    {
        var own = new Regex($@"^\s*%(?:define|global)\s+{Regex.Escape(name)}\s+(?<body>.*)$");
        var inline = new Regex($@"^(?<pre>\s*%\{{[!?]+\w+:\s*%(?:define|global)\s+{Regex.Escape(name)}\s+)(?<body>[^}}]*?)(?<post>\s*\}}\s*)$");
        var found = new List<MacroDefinition>();
        for (int i = 0; i < lines.Count; i++)
        {
            if (inline.Match(lines[i]) is { Success: true } c)
            {
                found.Add(new(i, i, c.Groups["body"].Value, c.Groups["pre"].Value + c.Groups["body"].Value.TrimEnd() + " itk" + c.Groups["post"].Value));
            }
            else if (own.Match(lines[i]) is { Success: true } m)
            {
                // A body continued with "\" ends on the first line without one; itk goes there.
                int last = i;
                while (lines[last].TrimEnd().EndsWith('\\') && last + 1 < lines.Count) last++;
                string body = string.Join(" ", new[] { m.Groups["body"].Value }.Concat(lines.Skip(i + 1).Take(last - i)));
                found.Add(new(i, last, body, lines[last].TrimEnd() + " itk"));
                i = last;
            }
        }
        return found;
    }
}
