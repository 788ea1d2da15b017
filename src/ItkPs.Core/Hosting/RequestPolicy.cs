using System.Text.RegularExpressions;
using ItkPs.Core.Config;

namespace ItkPs.Core.Hosting;

/// <summary>What runs a file: the file itself, a CGI program, the user's php-cgi pool, or a FastCGI socket.</summary>
public enum HandlerKind { Static, Cgi, Php, FastCgiProxy }

/// <summary>A ScriptAlias that matched: the URL prefix it took and the directory it maps to.</summary>
public sealed record ScriptAliasMatch(string UrlPrefix, string Directory, string Rest);

/// <summary>
/// The per-request settings in effect for one file, merged as Apache merges its sections: the
/// server's and then the vhost's own directives, &lt;Directory&gt; blocks from the shortest path to
/// the longest (regular-expression ones after), then &lt;Files&gt;/&lt;FilesMatch&gt; (top level and
/// inside the matching directories), then &lt;Location&gt;. Require lines of a later section
/// replace the earlier ones (AuthMerging Off, Apache's default).
/// </summary>
public sealed class RequestPolicy
{
    private static readonly HashSet<string> DefaultOptions = new(StringComparer.OrdinalIgnoreCase) { "FollowSymLinks" };
    private static readonly string[] AllOptions = ["ExecCGI", "FollowSymLinks", "Includes", "Indexes", "SymLinksIfOwnerMatch"];

    public HashSet<string> Options { get; } = new(DefaultOptions, StringComparer.OrdinalIgnoreCase);
    public string? SetHandler { get; private set; }
    /// <summary>AddHandler: extension (without the dot, lower case) → handler name.</summary>
    public Dictionary<string, string> Handlers { get; } = new(StringComparer.OrdinalIgnoreCase);
    public string? AuthType { get; private set; }
    public string? AuthName { get; private set; }
    public string? AuthUserFile { get; private set; }
    /// <summary>The Require lines in effect (any one of them grants: Apache's implicit RequireAny).</summary>
    public List<DirectiveRecord> Requires { get; private set; } = new();

    public bool ExecCgi => Options.Contains("ExecCGI");

    /// <summary>A caller's memo of <see cref="HandlerFor"/> for the one file this policy was merged for.</summary>
    public (HandlerKind Kind, string? Target)? Handler { get; set; }

    public static RequestPolicy For(IReadOnlyList<DirectiveRecord> serverDirectives, IReadOnlyList<DirectoryBlock> serverSections,
        VirtualHost vhost, string filePath, string urlPath)
    {
        var p = new RequestPolicy();
        p.ApplyAll(serverDirectives);
        p.ApplyAll(vhost.Directives);
        var sections = serverSections.Concat(vhost.Directories).ToList();
        string dir = filePath.EndsWith('/') ? filePath.TrimEnd('/') : Path.GetDirectoryName(filePath) ?? "/";
        if (dir.Length == 0) dir = "/";
        string name = filePath.EndsWith('/') ? "" : Path.GetFileName(filePath);

        var dirs = sections.Where(s => s.Kind == SectionKind.Directory && !s.IsRegex && DirectoryMatches(s.Path, dir))
            .OrderBy(s => Depth(s.Path)).ToList(); // a stable sort: file order among equals
        dirs.AddRange(sections.Where(s => s.Kind == SectionKind.Directory && s.IsRegex && Regex.IsMatch(dir + "/", s.Path)));
        foreach (var d in dirs) p.ApplyAll(d.Directives);

        if (name.Length > 0)
        {
            var files = sections.Where(s => s.Kind == SectionKind.Files).Concat(dirs.SelectMany(d => d.Nested));
            foreach (var f in files.Where(f => FileMatches(f, name))) p.ApplyAll(f.Directives);
        }
        foreach (var l in sections.Where(s => s.Kind == SectionKind.Location && LocationMatches(s, urlPath))) p.ApplyAll(l.Directives);
        return p;
    }

    /// <summary>The first ScriptAlias (vhost's before the server's) whose URL prefix starts this path.</summary>
    public static ScriptAliasMatch? FindScriptAlias(IReadOnlyList<DirectiveRecord> serverDirectives, VirtualHost vhost, string urlPath)
    {
        foreach (var d in vhost.Directives.Concat(serverDirectives))
        {
            if (!d.Name.Equals("ScriptAlias", StringComparison.OrdinalIgnoreCase) || d.Args.Count != 2) continue;
            string prefix = d.Args[0];
            bool match = prefix.EndsWith('/')
                ? urlPath.StartsWith(prefix, StringComparison.Ordinal) || urlPath + "/" == prefix
                : urlPath == prefix || urlPath.StartsWith(prefix + "/", StringComparison.Ordinal);
            if (!match) continue;
            string rest = urlPath.Length >= prefix.Length ? urlPath[prefix.TrimEnd('/').Length..] : "";
            return new ScriptAliasMatch(prefix, d.Args[1], rest.Length == 0 ? "/" : rest);
        }
        return null;
    }

    /// <summary>The handler for a file name: SetHandler, else AddHandler by any of its extensions (the last one that has a handler wins, as in mod_mime).</summary>
    public (HandlerKind Kind, string? Target) HandlerFor(string fileName)
    {
        string? handler = SetHandler;
        if (handler is null)
        {
            foreach (var ext in fileName.Split('.').Skip(1))
                if (Handlers.TryGetValue(ext, out var h)) handler = h;
        }
        return Classify(handler);
    }

    /// <summary>Apache handler names itkd runs: cgi-script, PHP's (mod_php's) and proxy:unix:…|fcgi://….</summary>
    public static (HandlerKind Kind, string? Target) Classify(string? handler)
    {
        if (handler is null || handler.Equals("default-handler", StringComparison.OrdinalIgnoreCase) || handler.Equals("None", StringComparison.OrdinalIgnoreCase))
            return (HandlerKind.Static, null);
        if (handler.Equals("cgi-script", StringComparison.OrdinalIgnoreCase)) return (HandlerKind.Cgi, null);
        if (handler.StartsWith("application/x-httpd-php", StringComparison.OrdinalIgnoreCase) && !handler.EndsWith("-source", StringComparison.OrdinalIgnoreCase))
            return (HandlerKind.Php, null);
        if (handler.StartsWith("proxy:unix:", StringComparison.OrdinalIgnoreCase))
        {
            string rest = handler["proxy:unix:".Length..];
            int bar = rest.IndexOf('|');
            string socket = bar < 0 ? rest : rest[..bar];
            string scheme = bar < 0 ? "" : rest[(bar + 1)..];
            if (scheme.StartsWith("fcgi://", StringComparison.OrdinalIgnoreCase)) return (HandlerKind.FastCgiProxy, socket);
        }
        return (HandlerKind.Static, null);
    }

    /// <summary>True when itkd knows what to do with this handler name (others are served as files, with a warning at start-up).</summary>
    public static bool IsKnownHandler(string handler) =>
        Classify(handler).Kind != HandlerKind.Static || handler.Equals("default-handler", StringComparison.OrdinalIgnoreCase) || handler.Equals("None", StringComparison.OrdinalIgnoreCase);

    private void ApplyAll(IEnumerable<DirectiveRecord> directives)
    {
        bool requireSeen = false;
        foreach (var d in directives)
        {
            switch (d.Name.ToLowerInvariant())
            {
                case "options": ApplyOptions(d.Args); break;
                case "sethandler": SetHandler = d.Args.Count > 0 ? d.Args[0] : null; break;
                case "addhandler":
                    if (d.Args.Count < 2) break;
                    foreach (var ext in d.Args.Skip(1)) Handlers[ext.TrimStart('.')] = d.Args[0];
                    break;
                case "authtype": AuthType = d.Args.FirstOrDefault(); break;
                case "authname": AuthName = d.Args.FirstOrDefault(); break;
                case "authuserfile": AuthUserFile = d.Args.FirstOrDefault(); break;
                case "require":
                    if (!requireSeen) { Requires = new(); requireSeen = true; }
                    Requires.Add(d);
                    break;
            }
        }
    }

    private void ApplyOptions(IReadOnlyList<string> args)
    {
        bool relative = args.All(a => a.StartsWith('+') || a.StartsWith('-'));
        if (!relative) Options.Clear();
        foreach (var a in args)
        {
            char sign = a[0] is '+' or '-' ? a[0] : '+';
            string name = a.TrimStart('+', '-');
            var names = name.Equals("All", StringComparison.OrdinalIgnoreCase) ? AllOptions
                : name.Equals("None", StringComparison.OrdinalIgnoreCase) ? [] : new[] { name };
            if (name.Equals("None", StringComparison.OrdinalIgnoreCase)) Options.Clear();
            foreach (var n in names)
            {
                if (sign == '+') Options.Add(n); else Options.Remove(n);
            }
        }
    }

    private static int Depth(string path) => path.Split('/', StringSplitOptions.RemoveEmptyEntries).Length;

    /// <summary>&lt;Directory path&gt; covers dir when path is dir or one of its parents; shell wildcards match one component each.</summary>
    public static bool DirectoryMatches(string pattern, string dir)
    {
        var p = pattern.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var d = dir.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (p.Length > d.Length) return false;
        for (int i = 0; i < p.Length; i++)
            if (!Wildcard(p[i], d[i])) return false;
        return true;
    }

    private static bool FileMatches(DirectoryBlock f, string name) =>
        f.IsRegex ? Regex.IsMatch(name, f.Path) : Wildcard(f.Path, name);

    private static bool LocationMatches(DirectoryBlock l, string urlPath)
    {
        if (l.IsRegex) return Regex.IsMatch(urlPath, l.Path);
        string prefix = l.Path;
        if (prefix == "/" || urlPath == prefix || urlPath == prefix.TrimEnd('/')) return true;
        return urlPath.StartsWith(prefix.EndsWith('/') ? prefix : prefix + "/", StringComparison.Ordinal);
    }

    /// <summary>fnmatch(3) for one path component: '*', '?' and [sets].</summary>
    public static bool Wildcard(string pattern, string text)
    {
        if (pattern.IndexOfAny(['*', '?', '[']) < 0) return pattern == text;
        var rx = "^" + Regex.Escape(pattern).Replace(@"\*", "[^/]*").Replace(@"\?", "[^/]").Replace(@"\[", "[").Replace(@"\]", "]") + "$";
        return Regex.IsMatch(text, rx);
    }
}
