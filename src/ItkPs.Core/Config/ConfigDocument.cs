using System.Text;

namespace ItkPs.Core.Config;

/// <summary>What one logical line of an Apache-syntax file is.</summary>
public enum EntryKind { Blank, Comment, Directive, SectionStart, SectionEnd }

/// <summary>
/// One logical line of a configuration file (continuation lines joined), with the exact
/// source text it came from. Writing the <see cref="Raw"/> texts back in order reproduces
/// the file byte for byte, which is what lets edits keep comments and unknown directives.
/// </summary>
public sealed class ConfigEntry
{
    public ConfigEntry(EntryKind kind, string raw, int line, string name, IReadOnlyList<string> args)
    {
        Kind = kind; Raw = raw; Line = line; Name = name; Args = args;
    }

    public EntryKind Kind { get; }
    /// <summary>The source text, including its line ending(s).</summary>
    public string Raw { get; internal set; }
    /// <summary>1-based line number of the first physical line.</summary>
    public int Line { get; }
    /// <summary>Directive or section name as written (case kept); empty for blanks and comments.</summary>
    public string Name { get; }
    public IReadOnlyList<string> Args { get; }
    /// <summary>
    /// The logical line without its leading white space (continuations joined), for directives that
    /// read their arguments themselves (RewriteRule, &lt;If&gt;) instead of by the usual word rules.
    /// </summary>
    public string Text { get; init; } = "";

    /// <summary>The leading white space of the entry, reused when a neighbour is written.</summary>
    public string Indent => Raw[..(Raw.Length - Raw.TrimStart(' ', '\t').Length)];

    public override string ToString() => Raw.TrimEnd('\r', '\n');
}

/// <summary>A directive or a section in the parsed tree, pointing back at its entries.</summary>
public sealed class ConfigNode
{
    internal ConfigNode(ConfigEntry start, string file) { Start = start; File = file; }

    public ConfigEntry Start { get; }
    /// <summary>The closing entry of a section; null for a plain directive.</summary>
    public ConfigEntry? End { get; internal set; }
    public List<ConfigNode> Children { get; } = new();
    public string File { get; }
    public bool IsSection => Start.Kind == EntryKind.SectionStart;
    public string Name => Start.Name;
    public IReadOnlyList<string> Args => Start.Args;
    public int Line => Start.Line;

    public bool Is(string name) => string.Equals(Name, name, StringComparison.OrdinalIgnoreCase);
    public override string ToString() => $"{File}:{Line}: {Start}";
}

/// <summary>
/// A single Apache-syntax file: its entries in order (for byte-identical round trips) and
/// the section tree over them (for reading). Syntax errors are collected, not thrown, so a
/// caller can report all of them with file and line.
/// </summary>
public sealed class ConfigDocument
{
    private ConfigDocument(string path, List<ConfigEntry> entries, List<ConfigNode> roots, List<ConfigDiagnostic> errors)
    {
        Path = path; Entries = entries; Roots = roots; Errors = errors;
    }

    public string Path { get; }
    public IReadOnlyList<ConfigEntry> Entries { get; }
    /// <summary>Top-level directives and sections.</summary>
    public IReadOnlyList<ConfigNode> Roots { get; }
    /// <summary>Syntax errors (unbalanced sections, unterminated quotes...).</summary>
    public IReadOnlyList<ConfigDiagnostic> Errors { get; }

    public static ConfigDocument Load(string path) => Parse(File.ReadAllText(path), path);

    /// <summary>The file's text, rebuilt from the entries: identical to what was parsed.</summary>
    public string ToText()
    {
        var sb = new StringBuilder();
        foreach (var e in Entries) sb.Append(e.Raw);
        return sb.ToString();
    }

    public static ConfigDocument Parse(string text, string path)
    {
        var entries = new List<ConfigEntry>();
        var errors = new List<ConfigDiagnostic>();
        var roots = new List<ConfigNode>();
        var open = new Stack<ConfigNode>();

        int pos = 0, lineNo = 1;
        while (pos < text.Length)
        {
            // One logical line: physical lines joined while they end in a backslash.
            int start = pos, firstLine = lineNo;
            var logical = new StringBuilder();
            while (true)
            {
                int nl = text.IndexOf('\n', pos);
                int end = nl < 0 ? text.Length : nl + 1;
                string physical = text[pos..end];
                pos = end;
                string body = physical.TrimEnd('\r', '\n');
                if (nl >= 0) lineNo++;
                if (body.EndsWith('\\') && pos < text.Length && !body.TrimStart().StartsWith('#'))
                {
                    logical.Append(body, 0, body.Length - 1).Append(' ');
                    continue;
                }
                logical.Append(body);
                break;
            }
            string raw = text[start..pos];
            string content = logical.ToString().Trim();

            if (content.Length == 0) { entries.Add(new ConfigEntry(EntryKind.Blank, raw, firstLine, "", [])); continue; }
            if (content[0] == '#') { entries.Add(new ConfigEntry(EntryKind.Comment, raw, firstLine, "", [])); continue; }

            void Error(string message) => errors.Add(ConfigDiagnostic.Error(path, firstLine, message));

            if (content.StartsWith("</", StringComparison.Ordinal))
            {
                string name = content[2..].TrimEnd('>').Trim();
                var entry = new ConfigEntry(EntryKind.SectionEnd, raw, firstLine, name, []);
                entries.Add(entry);
                if (!content.EndsWith('>')) Error($"'{content}' is missing its closing '>'.");
                if (open.Count == 0) { Error($"</{name}> has no matching <{name}>."); continue; }
                var top = open.Peek();
                if (!top.Is(name))
                {
                    Error($"</{name}> closes <{top.Name}> opened at line {top.Line}; expected </{top.Name}>.");
                    // One error per mistake: if <name> is open further out, close down to it.
                    if (open.Any(o => o.Is(name))) while (!open.Pop().Is(name)) { }
                    continue;
                }
                open.Pop().End = entry;
                continue;
            }

            bool section = content[0] == '<';
            string inner = content;
            if (section)
            {
                if (!content.EndsWith('>')) Error($"Section '{content}' is missing its closing '>'.");
                inner = content[1..].TrimEnd('>');
            }
            var words = Tokenize(inner, out string? tokenError);
            if (tokenError is not null) Error(tokenError);
            if (words.Count == 0) { Error($"'{content}' has no directive name."); words.Add(""); }
            var node = new ConfigNode(
                new ConfigEntry(section ? EntryKind.SectionStart : EntryKind.Directive, raw, firstLine, words[0], words.Skip(1).ToArray()) { Text = inner },
                path);
            entries.Add(node.Start);
            (open.Count > 0 ? open.Peek().Children : roots).Add(node);
            if (section) open.Push(node);
        }
        foreach (var unclosed in open)
            errors.Add(ConfigDiagnostic.Error(path, unclosed.Line, $"<{unclosed.Name}> is never closed (expected </{unclosed.Name}>)."));

        return new ConfigDocument(path, entries, roots, errors);
    }

    /// <summary>
    /// Splits directive arguments as Apache's ap_getword_conf does: white space separates,
    /// double or single quotes group, and a backslash escapes the quote inside quotes.
    /// </summary>
    public static List<string> Tokenize(string s, out string? error)
    {
        error = null;
        var words = new List<string>();
        int i = 0;
        while (true)
        {
            while (i < s.Length && char.IsWhiteSpace(s[i])) i++;
            if (i >= s.Length) break;
            var sb = new StringBuilder();
            if (s[i] is '"' or '\'')
            {
                char q = s[i++];
                bool closed = false;
                while (i < s.Length)
                {
                    if (s[i] == '\\' && i + 1 < s.Length && (s[i + 1] == q || s[i + 1] == '\\')) { sb.Append(s[i + 1]); i += 2; continue; }
                    if (s[i] == q) { closed = true; i++; break; }
                    sb.Append(s[i++]);
                }
                if (!closed) error = $"Unterminated {q} quote in '{s}'.";
            }
            else
            {
                while (i < s.Length && !char.IsWhiteSpace(s[i])) sb.Append(s[i++]);
            }
            words.Add(sb.ToString());
        }
        return words;
    }

    /// <summary>Quotes an argument when Apache would otherwise split or misread it.</summary>
    public static string Quote(string arg)
    {
        if (arg.Length > 0 && !arg.Any(c => char.IsWhiteSpace(c) || c is '"' or '\'' or '\\' or '#' or '>'))
            return arg;
        return "\"" + arg.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
    }

    /// <summary>Formats one directive line as this project writes it.</summary>
    public static string FormatDirective(string indent, string name, IEnumerable<string> args, string newline = "\n")
    {
        var list = args.ToList();
        return indent + name + (list.Count > 0 ? " " + string.Join(' ', list.Select(Quote)) : "") + newline;
    }
}
