using ItkPs.Core.Config;

namespace ItkPs.Core.Htaccess;

/// <summary>A configuration problem found where a request needs the configuration: file, line and Apache's words for it.</summary>
public sealed class DirectiveException(string file, int line, string message) : Exception(message)
{
    public string File { get; } = file;
    public int Line { get; } = line;
    public override string ToString() => $"{File}:{Line}: {Message}";
}

/// <summary>
/// Reads a .htaccess file into directive records: the same tokenizer as the configuration files,
/// with &lt;IfModule&gt;, &lt;IfDefine&gt;, &lt;IfVersion&gt;, &lt;IfDirective&gt; and &lt;IfFile&gt;
/// decided on the spot (as Apache decides them while reading), so a compiled file holds only what
/// applies. A syntax error is a <see cref="DirectiveException"/> with its line.
/// </summary>
public static class HtaccessParser
{
    private static readonly HashSet<string> Modules = new(DirectiveTable.ProvidedModules, StringComparer.OrdinalIgnoreCase);

    public static IReadOnlyList<DirectiveRecord> Parse(string text, string path)
    {
        var doc = ConfigDocument.Parse(text, path);
        // Apache reads a .htaccess to its end inside an unclosed <IfModule> (or another
        // conditional section) and applies what it read; any other unclosed section is an error.
        foreach (var e in doc.Errors)
        {
            if (e.Message.Contains("is never closed", StringComparison.Ordinal) && IsConditional(e.Message)) continue;
            throw new DirectiveException(path, e.Line, e.Message);
        }
        var list = new List<DirectiveRecord>();
        Flatten(doc.Roots, list);
        return list;
    }

    private static bool IsConditional(string message)
    {
        foreach (var name in new[] { "<IfModule>", "<IfDefine>", "<IfVersion>", "<IfDirective>", "<IfFile>", "<IfSection>" })
            if (message.StartsWith(name, StringComparison.OrdinalIgnoreCase)) return true;
        return false;
    }

    /// <summary>Turns parsed nodes into records, evaluating the conditional sections.</summary>
    public static void Flatten(IEnumerable<ConfigNode> nodes, List<DirectiveRecord> into)
    {
        foreach (var n in nodes)
        {
            if (n.IsSection && TryCondition(n, out bool holds))
            {
                if (holds) Flatten(n.Children, into);
                continue;
            }
            into.Add(ToRecord(n));
        }
    }

    /// <summary>One node as a record; a section's children are flattened into <see cref="DirectiveRecord.Children"/>.</summary>
    public static DirectiveRecord ToRecord(ConfigNode n)
    {
        string text = n.Start.Text;
        string raw = text.Length > n.Name.Length ? text[n.Name.Length..].Trim() : "";
        List<DirectiveRecord>? children = null;
        if (n.IsSection)
        {
            children = new List<DirectiveRecord>();
            Flatten(n.Children, children);
        }
        return new DirectiveRecord(n.Name, n.Args, n.File, n.Line) { RawArgs = raw, Children = children };
    }

    /// <summary>&lt;IfModule&gt; and friends: whether the node is one, and whether its body applies.</summary>
    private static bool TryCondition(ConfigNode n, out bool holds)
    {
        holds = false;
        string name = n.Name.ToLowerInvariant();
        if (name is not ("ifmodule" or "ifdefine" or "ifversion" or "ifdirective" or "iffile" or "ifsection")) return false;
        if (n.Args.Count == 0) throw new DirectiveException(n.File, n.Line, $"<{n.Name}> takes one argument");
        string arg = n.Args[0];
        bool negate = arg.StartsWith('!');
        if (negate) arg = arg[1..];
        switch (name)
        {
            case "ifmodule":
                holds = Modules.Contains(arg);
                break;
            case "ifdefine":
                holds = false; // itkd is started without -D parameters
                break;
            case "ifdirective":
                holds = DirectiveTable.Find(arg) is not null;
                break;
            case "ifsection":
                holds = DirectiveTable.Find(arg) is { Section: true };
                break;
            case "iffile":
                holds = File.Exists(arg) || Directory.Exists(arg);
                break;
            case "ifversion":
                holds = IfVersion(n, negate);
                negate = false;
                break;
        }
        holds ^= negate;
        return true;
    }

    /// <summary>mod_version: &lt;IfVersion [[!]op] version&gt; with =, ==, &gt;, &gt;=, &lt;, &lt;=, ~ (regex) or /regex/.</summary>
    private static bool IfVersion(ConfigNode n, bool negated)
    {
        string op = "=", version;
        var args = n.Args.ToList();
        if (negated) args[0] = args[0][1..];
        if (args.Count == 1) version = args[0];
        else { op = args[0]; version = args[1]; }
        if (op.StartsWith('!')) { negated = !negated; op = op[1..]; }
        var mine = DirectiveTable.ApacheVersion;
        string mineText = $"{mine.Major}.{mine.Minor}.{mine.Build}";
        bool result;
        if (op == "~" || (version.StartsWith('/') && version.EndsWith('/') && version.Length > 1))
        {
            string rx = op == "~" ? version : version[1..^1];
            result = PcreRegex.Match(PcreRegex.Get(rx), mineText) is not null;
        }
        else
        {
            var parts = version.Split('.');
            int Part(int i) => i < parts.Length && int.TryParse(parts[i], out int v) ? v : 0;
            var want = new Version(Part(0), Part(1), Part(2));
            // a version given without a patch level compares only the parts given, as mod_version does
            var have = parts.Length >= 3 ? mine : parts.Length == 2 ? new Version(mine.Major, mine.Minor, 0) : new Version(mine.Major, 0, 0);
            int c = have.CompareTo(want);
            result = op switch
            {
                "=" or "==" => c == 0, ">" => c > 0, ">=" => c >= 0, "<" => c < 0, "<=" => c <= 0,
                _ => throw new DirectiveException(n.File, n.Line, $"<IfVersion> operator '{op}' is not one of =, ==, >, >=, <, <=, ~"),
            };
        }
        return result != negated;
    }
}
