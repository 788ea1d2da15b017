using ItkPs.Core.Config;

namespace ItkPs.Core.Htaccess;

/// <summary>A compiled &lt;Directory&gt; / &lt;Location&gt; block: where it applies and its settings.</summary>
public sealed record CompiledBlock(DirectoryBlock Block, Section Body, int Depth);

/// <summary>
/// A vhost's configuration compiled once per worker: the server's and the vhost's own per-directory
/// settings merged into the starting point of every request (Apache's lookup_defaults), its
/// &lt;Directory&gt; blocks sorted by depth as the directory walk meets them, regex blocks, &lt;Location&gt;
/// blocks, and the settings that act before the walk (vhost-level RewriteRule, Redirect, SetEnvIf).
/// </summary>
public sealed class VhostRuntime
{
    public required VirtualHost Vhost { get; init; }
    public required string DocumentRoot { get; init; }
    public required PerDir Base { get; init; }
    public required IReadOnlyList<CompiledBlock> Directories { get; init; }
    public required IReadOnlyList<CompiledBlock> RegexDirectories { get; init; }
    public required IReadOnlyList<CompiledBlock> Locations { get; init; }
    public required RewriteServerConf Rewrite { get; init; }
    public required IReadOnlyList<RedirectEntry> Redirects { get; init; }
    public required IReadOnlyList<SetEnvIfEntry> PostReadSetEnvIf { get; init; }
    public required IReadOnlyList<DirectiveRecord> ServerDirectives { get; init; }
    /// <summary>LimitRequestLine / LimitRequestFieldSize / LimitRequestFields of the vhost (Apache's defaults otherwise).</summary>
    public int LimitRequestLine { get; init; } = 8190;
    public int LimitRequestFieldSize { get; init; } = 8190;
    public int LimitRequestFields { get; init; } = 100;
    /// <summary>Directives compiled but not acted on, to log once at start-up.</summary>
    public List<string> Notices { get; } = new();

    /// <summary>
    /// Compiles a vhost with the server-level directives and sections it inherits. Throws
    /// <see cref="DirectiveException"/> (file:line) for a directive itkd cannot carry out as written.
    /// </summary>
    public static VhostRuntime Compile(VirtualHost vh, IReadOnlyList<DirectiveRecord> serverDirectives, IReadOnlyList<DirectoryBlock> serverSections)
    {
        var serverSection = SectionCompiler.Compile(PerDirOnly(serverDirectives), new CompileScope(ScopeKind.Server));
        var vhostSection = SectionCompiler.Compile(PerDirOnly(vh.Directives), new CompileScope(ScopeKind.VirtualHost));
        var basePerDir = PerDir.Empty.Merge(serverSection).Merge(vhostSection);
        // the legacy DirectoryIndex of the vhost (read by the configuration reader) is the starting one
        if (vh.DirectoryIndex.Count > 0 && basePerDir.Dir.Index is null)
            basePerDir = basePerDir.Merge(new Section { Dir = new DirConf { Index = vh.DirectoryIndex } });

        var dirs = new List<CompiledBlock>();
        var regex = new List<CompiledBlock>();
        var locations = new List<CompiledBlock>();
        var topFiles = new List<FilesSection>();
        foreach (var block in serverSections.Concat(vh.Directories))
        {
            switch (block.Kind)
            {
                case SectionKind.Directory:
                    {
                        var body = SectionCompiler.Compile(block.Directives, new CompileScope(ScopeKind.Directory, Path: block.IsRegex ? null : block.Path));
                        foreach (var nested in block.Nested) body.Files.Add(FilesOf(nested));
                        var compiled = new CompiledBlock(block, body, Depth(block.Path));
                        (block.IsRegex ? regex : dirs).Add(compiled);
                        break;
                    }
                case SectionKind.Files:
                    topFiles.Add(FilesOf(block));
                    break;
                case SectionKind.Location:
                    locations.Add(new CompiledBlock(block, SectionCompiler.Compile(block.Directives, new CompileScope(ScopeKind.Location, Path: block.Path)), 0));
                    break;
            }
        }
        if (topFiles.Count > 0)
        {
            var holder = new Section();
            holder.Files.AddRange(topFiles);
            basePerDir = basePerDir.Merge(holder);
        }
        // the walk meets shorter paths first; among equals, the configuration's order (a stable sort)
        dirs = dirs.OrderBy(d => d.Depth).ToList();

        var serverRewrite = SectionCompiler.ServerRewrite(serverDirectives);
        var vhostRewrite = SectionCompiler.ServerRewrite(vh.Directives);
        var rewrite = vhostRewrite.Options.HasFlag(RewriteOpt.Inherit)
            ? new RewriteServerConf { Engine = vhostRewrite.Engine, Options = vhostRewrite.Options, Rules = [.. vhostRewrite.Rules, .. serverRewrite.Rules] }
            : vhostRewrite;

        var redirects = new List<RedirectEntry>();
        var setEnvIf = new List<SetEnvIfEntry>();
        foreach (var d in vh.Directives.Concat(serverDirectives))
        {
            if (d.Name.StartsWith("Redirect", StringComparison.OrdinalIgnoreCase))
                redirects.AddRange(SectionCompiler.Compile([d], new CompileScope(ScopeKind.VirtualHost)).Alias?.Redirects ?? []);
        }
        foreach (var d in serverDirectives.Concat(vh.Directives))
        {
            if (d.Name.StartsWith("SetEnvIf", StringComparison.OrdinalIgnoreCase) || d.Name.StartsWith("BrowserMatch", StringComparison.OrdinalIgnoreCase))
                setEnvIf.AddRange(SectionCompiler.Compile([d], new CompileScope(ScopeKind.VirtualHost)).SetEnvIf?.Entries ?? []);
        }

        int Limit(string name, int fallback, int min)
        {
            var d = vh.Directives.LastOrDefault(x => x.Is(name)) ?? serverDirectives.LastOrDefault(x => x.Is(name));
            if (d is null) return fallback;
            if (d.Args.Count != 1 || !int.TryParse(d.Args[0], out int v) || v < min) throw new DirectiveException(d.File, d.Line, $"{name} \"{string.Join(' ', d.Args)}\" must be a non-negative integer");
            return v;
        }

        var rt = new VhostRuntime
        {
            Vhost = vh, DocumentRoot = (vh.DocumentRoot ?? "/nonexistent").TrimEnd('/') is { Length: > 0 } root ? root : "/",
            Base = basePerDir, Directories = dirs, RegexDirectories = regex, Locations = locations,
            Rewrite = rewrite, Redirects = redirects, PostReadSetEnvIf = setEnvIf, ServerDirectives = serverDirectives,
            LimitRequestLine = Limit("LimitRequestLine", 8190, 1), LimitRequestFieldSize = Limit("LimitRequestFieldSize", 8190, 1),
            LimitRequestFields = Limit("LimitRequestFields", 100, 0),
        };
        rt.Notices.AddRange(serverSection.Notices.Concat(vhostSection.Notices).Concat(dirs.Concat(regex).Concat(locations).SelectMany(b => b.Body.Notices)));
        return rt;
    }

    /// <summary>The directives of a vhost (or the server) that are per-directory settings, without those that act before the walk.</summary>
    private static List<DirectiveRecord> PerDirOnly(IReadOnlyList<DirectiveRecord> records) =>
        records.Where(d => DirectiveTable.Find(d.Name) is { } info && !DirectiveTable.ServerLevel.Contains(info.Section ? "<" + info.Name : info.Name, StringComparer.OrdinalIgnoreCase)
            && !d.Name.StartsWith("Redirect", StringComparison.OrdinalIgnoreCase)
            && !d.Name.StartsWith("SetEnvIf", StringComparison.OrdinalIgnoreCase) && !d.Name.StartsWith("BrowserMatch", StringComparison.OrdinalIgnoreCase)
            && !d.Is("RewriteCond") && !d.Is("RewriteRule")).ToList();

    private static FilesSection FilesOf(DirectoryBlock b)
    {
        var body = SectionCompiler.Compile(b.Directives, new CompileScope(ScopeKind.Files));
        return new FilesSection(b.Path, b.IsRegex ? PcreRegex.Get(b.Path) : null, body);
    }

    public static int Depth(string path) => path.Split('/', StringSplitOptions.RemoveEmptyEntries).Length;
}
