using System.Text;

namespace ItkPs.Core.Config;

/// <summary>
/// Edits one &lt;VirtualHost&gt; of a parsed file in place: directives are replaced on their own
/// line (keeping its indentation), added before the section's first nested section or its
/// end, or removed; every other byte of the file is written back as it was read.
/// </summary>
public sealed class VhostEditor
{
    private readonly ConfigDocument _doc;
    private readonly ConfigNode _section;
    private readonly Dictionary<ConfigEntry, string> _replace = new();
    private readonly Dictionary<ConfigEntry, StringBuilder> _insertBefore = new();
    private readonly HashSet<ConfigEntry> _removed = new();

    public VhostEditor(ConfigDocument doc, int line)
    {
        _doc = doc;
        _section = FindSection(doc.Roots, line)
            ?? throw new InvalidOperationException($"{doc.Path}:{line}: no <VirtualHost> starts on this line (was the file changed by hand?).");
        Newline = _section.Start.Raw.EndsWith("\r\n", StringComparison.Ordinal) ? "\r\n" : "\n";
    }

    private string Newline { get; }

    /// <summary>True when the file holds other vhosts besides this one.</summary>
    public bool FileHasOtherVhosts => CountVhosts(_doc.Roots) > 1;

    private static int CountVhosts(IEnumerable<ConfigNode> nodes) =>
        nodes.Sum(n => n.Is("VirtualHost") ? 1 : n.IsSection ? CountVhosts(n.Children) : 0);

    private static ConfigNode? FindSection(IEnumerable<ConfigNode> nodes, int line)
    {
        foreach (var n in nodes)
        {
            if (n.Is("VirtualHost") && n.Line == line) return n;
            if (n.IsSection && FindSection(n.Children, line) is { } inner) return inner;
        }
        return null;
    }

    /// <summary>The vhost's own directives, looking through &lt;IfModule&gt; but not into &lt;Directory&gt;.</summary>
    private IEnumerable<ConfigNode> OwnDirectives(ConfigNode section)
    {
        foreach (var c in section.Children)
        {
            if (c.Is("IfModule")) { foreach (var d in OwnDirectives(c)) yield return d; }
            else if (!c.IsSection) yield return c;
        }
    }

    private string ChildIndent =>
        _section.Children.FirstOrDefault()?.Start.Indent ?? _section.Start.Indent + "    ";

    /// <summary>Sets a directive to these arguments, or removes it when <paramref name="args"/> is null.</summary>
    public void Set(string name, IReadOnlyList<string>? args)
    {
        var existing = OwnDirectives(_section).Where(d => d.Is(name)).ToList();
        if (args is null)
        {
            foreach (var d in existing) _removed.Add(d.Start);
            return;
        }
        if (existing.Count > 0)
        {
            _replace[existing[0].Start] = ConfigDocument.FormatDirective(existing[0].Start.Indent, existing[0].Name, args, Newline);
            foreach (var d in existing.Skip(1)) _removed.Add(d.Start);
            return;
        }
        var anchor = _section.Children.FirstOrDefault(c => c.IsSection && !c.Is("IfModule"))?.Start ?? _section.End!;
        if (!_insertBefore.TryGetValue(anchor, out var sb)) _insertBefore[anchor] = sb = new StringBuilder();
        sb.Append(ConfigDocument.FormatDirective(ChildIndent, name, args, Newline));
    }

    /// <summary>The arguments of the vhost's own directive (the last one of that name), or null.</summary>
    public IReadOnlyList<string>? Get(string name) => OwnDirectives(_section).LastOrDefault(d => d.Is(name))?.Args;

    /// <summary>Every own directive of that name, in file order.</summary>
    public IReadOnlyList<IReadOnlyList<string>> GetAll(string name) => OwnDirectives(_section).Where(d => d.Is(name)).Select(d => d.Args).ToList();

    /// <summary>Adds one more line of this directive (others of the name stay).</summary>
    public void Add(string name, IReadOnlyList<string> args)
    {
        var anchor = _section.Children.FirstOrDefault(c => c.IsSection && !c.Is("IfModule"))?.Start ?? _section.End!;
        if (!_insertBefore.TryGetValue(anchor, out var sb)) _insertBefore[anchor] = sb = new StringBuilder();
        sb.Append(ConfigDocument.FormatDirective(ChildIndent, name, args, Newline));
    }

    /// <summary>Removes the own lines of this directive whose arguments satisfy the test.</summary>
    public void RemoveWhere(string name, Func<IReadOnlyList<string>, bool> test)
    {
        foreach (var d in OwnDirectives(_section).Where(d => d.Is(name) && test(d.Args))) _removed.Add(d.Start);
    }

    /// <summary>True when a section directly inside the vhost satisfies the test.</summary>
    public bool HasBlock(Func<ConfigNode, bool> test) => _section.Children.Any(c => c.IsSection && test(c));

    /// <summary>Adds a block of text (already indented) before the vhost's closing line.</summary>
    public void AddBlock(Func<string, string, string> text)
    {
        var anchor = _section.End!;
        if (!_insertBefore.TryGetValue(anchor, out var sb)) _insertBefore[anchor] = sb = new StringBuilder();
        sb.Append(text(ChildIndent, Newline));
    }

    /// <summary>Removes every section directly inside the vhost that satisfies the test, with all its lines.</summary>
    public void RemoveBlocks(Func<ConfigNode, bool> test)
    {
        foreach (var c in _section.Children.Where(c => c.IsSection && test(c)))
        {
            bool inside = false;
            foreach (var e in _doc.Entries)
            {
                if (e == c.Start) inside = true;
                if (inside) _removed.Add(e);
                if (e == c.End) break;
            }
        }
    }

    /// <summary>Moves &lt;Directory old&gt; blocks of this vhost to a new path (when DocumentRoot moves).</summary>
    public void RenameDirectory(string oldPath, string newPath)
    {
        foreach (var c in _section.Children.Where(c => c.Is("Directory") && c.Args.Count == 1))
        {
            if (string.Equals(c.Args[0].TrimEnd('/'), oldPath.TrimEnd('/'), StringComparison.Ordinal))
                _replace[c.Start] = c.Start.Indent + "<" + c.Name + " " + ConfigDocument.Quote(newPath) + ">" + Newline;
        }
    }

    /// <summary>The file's text with this vhost's whole section taken out.</summary>
    public string TextWithoutVhost()
    {
        var sb = new StringBuilder();
        bool inside = false;
        foreach (var e in _doc.Entries)
        {
            if (e == _section.Start) inside = true;
            if (!inside) sb.Append(e.Raw);
            if (e == _section.End) inside = false;
        }
        return sb.ToString();
    }

    public string ToText()
    {
        var sb = new StringBuilder();
        foreach (var e in _doc.Entries)
        {
            if (_insertBefore.TryGetValue(e, out var ins)) sb.Append(ins);
            if (_removed.Contains(e)) continue;
            sb.Append(_replace.TryGetValue(e, out var r) ? r : e.Raw);
        }
        return sb.ToString();
    }
}
