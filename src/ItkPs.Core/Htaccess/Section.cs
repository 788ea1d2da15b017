using System.Text.RegularExpressions;

namespace ItkPs.Core.Htaccess;

/// <summary>A &lt;Files&gt; / &lt;FilesMatch&gt; section inside a directory's settings (Apache's sec_file).</summary>
public sealed record FilesSection(string Pattern, Regex? Regex, Section Body)
{
    public bool Matches(string name) => Regex is not null ? PcreRegex.Match(Regex, name) is not null : Expr.Fnmatch(Pattern, name, true, pathname: true);
}

/// <summary>&lt;If&gt; with its &lt;ElseIf&gt; and &lt;Else&gt; branches; the first whose condition holds applies.</summary>
public sealed record IfChain(IReadOnlyList<(Expr? Condition, Section Body)> Branches);

/// <summary>
/// The settings of one configuration section or .htaccess file, per module, as Apache's
/// per-directory config vector: a module's entry is present only when the section has one of its
/// directives, so merging leaves the other modules' inherited settings alone.
/// </summary>
public sealed class Section
{
    public CoreConf? Core { get; set; }
    public DirConf? Dir { get; set; }
    public AliasConf? Alias { get; set; }
    public MimeConf? Mime { get; set; }
    public HeadersConf? Headers { get; set; }
    public EnvConf? Env { get; set; }
    public SetEnvIfConf? SetEnvIf { get; set; }
    public ExpiresConf? Expires { get; set; }
    public AuthConf? Auth { get; set; }
    public AuthzConf? Authz { get; set; }
    public AccessSettings? Access { get; set; }
    public PhpConf? Php { get; set; }
    public AutoindexConf? Autoindex { get; set; }
    public bool AutoindexReset { get; set; }
    public RewriteConf? Rewrite { get; set; }
    public List<FilesSection> Files { get; } = new();
    public List<IfChain> Ifs { get; } = new();
    /// <summary>Directives read and deliberately not acted on (see DirectiveTable.Tolerated), to be logged once.</summary>
    public List<string> Notices { get; } = new();

    public bool IsEmpty => Core is null && Dir is null && Alias is null && Mime is null && Headers is null && Env is null && SetEnvIf is null
        && Expires is null && Auth is null && Authz is null && Access is null && Php is null && Autoindex is null && Rewrite is null
        && Files.Count == 0 && Ifs.Count == 0;
}

/// <summary>The merged per-directory settings in effect for a request (every module present).</summary>
public sealed class PerDir
{
    public required CoreConf Core { get; init; }
    public required DirConf Dir { get; init; }
    public required AliasConf Alias { get; init; }
    public required MimeConf Mime { get; init; }
    public required HeadersConf Headers { get; init; }
    public required EnvConf Env { get; init; }
    public required SetEnvIfConf SetEnvIf { get; init; }
    public required ExpiresConf Expires { get; init; }
    public required AuthConf Auth { get; init; }
    public required AuthzConf Authz { get; init; }
    public required AccessSettings Access { get; init; }
    public required PhpConf Php { get; init; }
    public required AutoindexConf Autoindex { get; init; }
    public required RewriteConf Rewrite { get; init; }
    public required IReadOnlyList<FilesSection> Files { get; init; }
    public required IReadOnlyList<IfChain> Ifs { get; init; }

    public static readonly PerDir Empty = new()
    {
        Core = CoreConf.Default, Dir = DirConf.Default, Alias = AliasConf.Default, Mime = MimeConf.Default, Headers = HeadersConf.Default,
        Env = EnvConf.Default, SetEnvIf = SetEnvIfConf.Default, Expires = ExpiresConf.Empty, Auth = AuthConf.Default, Authz = AuthzConf.Default,
        Access = AccessSettings.Default, Php = PhpConf.Default, Autoindex = AutoindexConf.Default, Rewrite = RewriteConf.Default,
        Files = [], Ifs = [],
    };

    /// <summary>ap_merge_per_dir_configs: each module merges the section's settings over the inherited ones.</summary>
    public PerDir Merge(Section s)
    {
        if (s.IsEmpty) return this;
        return new PerDir
        {
            Core = s.Core is null ? Core : CoreConf.Merge(Core, s.Core),
            Dir = s.Dir is null ? Dir : DirConf.Merge(Dir, s.Dir),
            Alias = s.Alias is null ? Alias : AliasConf.Merge(Alias, s.Alias),
            Mime = s.Mime is null ? Mime : MimeConf.Merge(Mime, s.Mime),
            Headers = s.Headers is null ? Headers : HeadersConf.Merge(Headers, s.Headers),
            Env = s.Env is null ? Env : EnvConf.Merge(Env, s.Env),
            SetEnvIf = s.SetEnvIf is null ? SetEnvIf : SetEnvIfConf.Merge(SetEnvIf, s.SetEnvIf),
            Expires = s.Expires is null ? Expires : ExpiresConf.Merge(Expires, s.Expires),
            Auth = s.Auth is null ? Auth : AuthConf.Merge(Auth, s.Auth),
            Authz = s.Authz is null ? Authz : AuthzConf.Merge(Authz, s.Authz),
            Access = s.Access ?? Access,
            Php = s.Php is null ? Php : PhpConf.Merge(Php, s.Php),
            Autoindex = s.Autoindex is null ? Autoindex : AutoindexConf.Merge(Autoindex, s.Autoindex, s.AutoindexReset),
            Rewrite = s.Rewrite is null ? Rewrite : RewriteConf.Merge(Rewrite, s.Rewrite),
            Files = s.Files.Count == 0 ? Files : [.. Files, .. s.Files],
            Ifs = s.Ifs.Count == 0 ? Ifs : [.. Ifs, .. s.Ifs],
        };
    }

    /// <summary>The Options in effect.</summary>
    public Opt Options => Core.Opts;
}
