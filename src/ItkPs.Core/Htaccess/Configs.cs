using System.Text.RegularExpressions;

namespace ItkPs.Core.Htaccess;

/// <summary>Apache's Options bits.</summary>
[Flags]
public enum Opt
{
    None = 0,
    Indexes = 1,
    Includes = 2,
    FollowSymLinks = 4,
    ExecCGI = 8,
    IncludesExec = 16,
    SymLinksIfOwnerMatch = 32,
    MultiViews = 64,
    /// <summary>"Options All": everything but MultiViews and SymLinksIfOwnerMatch.</summary>
    All = Indexes | Includes | IncludesExec | FollowSymLinks | ExecCGI,
    Everything = All | SymLinksIfOwnerMatch | MultiViews,
}

/// <summary>FileETag's bits.</summary>
[Flags]
public enum ETagBits { None = 0, Inode = 1, MTime = 2, Size = 4, All = Inode | MTime | Size }

// Every per-module configuration below is immutable once built: a section's own settings, and the
// merged result for a request (Merge(base, add) returns a new object), exactly as Apache keeps one
// per-directory structure per module and merges base with the more specific one.

/// <summary>core's per-directory settings.</summary>
public sealed class CoreConf
{
    /// <summary>Options, in Apache's representation: an explicit set, or +/- changes to the inherited one.</summary>
    public bool OptsExplicit { get; init; }
    public Opt Opts { get; init; }
    public Opt OptsAdd { get; init; }
    public Opt OptsRemove { get; init; }
    public Overrides? AllowOverride { get; init; }
    /// <summary>AllowOverride Options=…: which options a .htaccess may set.</summary>
    public Opt? OverrideOpts { get; init; }
    public IReadOnlySet<string>? AllowOverrideList { get; init; }
    /// <summary>SetHandler as written ("none" kept: it means "no override"), and ForceType.</summary>
    public string? Handler { get; init; }
    public string? ForceType { get; init; }
    /// <summary>AddDefaultCharset: null unset, "" off, else the charset.</summary>
    public string? DefaultCharset { get; init; }
    public bool EtagExplicit { get; init; }
    public ETagBits? Etag { get; init; }
    public ETagBits EtagAdd { get; init; }
    public ETagBits EtagRemove { get; init; }
    public IReadOnlyDictionary<int, string>? ErrorDocuments { get; init; }
    /// <summary>AcceptPathInfo: null default, true On, false Off.</summary>
    public bool? AcceptPathInfo { get; init; }
    public long? LimitRequestBody { get; init; }
    public bool? CgiPassAuth { get; init; }

    public static readonly CoreConf Default = new()
    {
        OptsExplicit = true, Opts = Opt.FollowSymLinks, AllowOverride = Overrides.None, OverrideOpts = Opt.Everything,
        Etag = ETagBits.MTime | ETagBits.Size, EtagExplicit = true,
    };

    public static CoreConf Merge(CoreConf b, CoreConf n)
    {
        Opt opts, add, remove;
        if (!n.OptsExplicit)
        {
            add = (b.OptsAdd & ~n.OptsRemove) | n.OptsAdd;
            remove = (b.OptsRemove & ~n.OptsAdd) | n.OptsRemove;
            opts = (b.Opts & ~remove) | add;
        }
        else { opts = n.Opts; add = n.OptsAdd; remove = n.OptsRemove; }

        ETagBits? etag; ETagBits eadd, eremove;
        if (!n.EtagExplicit)
        {
            eadd = (b.EtagAdd & ~n.EtagRemove) | n.EtagAdd;
            eremove = (b.EtagRemove & ~n.EtagAdd) | n.EtagRemove;
            etag = ((b.Etag ?? ETagBits.MTime | ETagBits.Size) & ~eremove) | eadd;
        }
        else { etag = n.Etag; eadd = n.EtagAdd; eremove = n.EtagRemove; }

        IReadOnlyDictionary<int, string>? docs = b.ErrorDocuments;
        if (n.ErrorDocuments is not null)
        {
            if (docs is null) docs = n.ErrorDocuments;
            else
            {
                var d = new Dictionary<int, string>(docs);
                foreach (var (k, v) in n.ErrorDocuments) d[k] = v;
                docs = d;
            }
        }
        return new CoreConf
        {
            OptsExplicit = b.OptsExplicit || n.OptsExplicit, Opts = opts, OptsAdd = add, OptsRemove = remove,
            AllowOverride = n.AllowOverride ?? b.AllowOverride,
            OverrideOpts = n.AllowOverride is not null ? n.OverrideOpts : b.OverrideOpts,
            AllowOverrideList = n.AllowOverrideList ?? b.AllowOverrideList,
            Handler = n.Handler ?? b.Handler, ForceType = n.ForceType ?? b.ForceType,
            DefaultCharset = n.DefaultCharset ?? b.DefaultCharset,
            EtagExplicit = true, Etag = etag, EtagAdd = eadd, EtagRemove = eremove,
            ErrorDocuments = docs, AcceptPathInfo = n.AcceptPathInfo ?? b.AcceptPathInfo,
            LimitRequestBody = n.LimitRequestBody ?? b.LimitRequestBody, CgiPassAuth = n.CgiPassAuth ?? b.CgiPassAuth,
        };
    }
}

/// <summary>mod_dir.</summary>
public sealed class DirConf
{
    /// <summary>DirectoryIndex names; an empty list is "DirectoryIndex disabled".</summary>
    public IReadOnlyList<string>? Index { get; init; }
    public string? Fallback { get; init; }
    public bool? Slash { get; init; }
    public int? IndexRedirect { get; init; }

    public static readonly DirConf Default = new() { Slash = true };

    public static DirConf Merge(DirConf b, DirConf n) => new()
    {
        Index = n.Index ?? b.Index, Fallback = n.Fallback ?? b.Fallback, Slash = n.Slash ?? b.Slash, IndexRedirect = n.IndexRedirect ?? b.IndexRedirect,
    };
}

/// <summary>One Redirect / RedirectMatch of mod_alias.</summary>
public sealed record RedirectEntry(int Status, string? Target, string? Prefix, Regex? Pattern, string File, int Line);

/// <summary>mod_alias' per-directory redirects: a more specific section's come first.</summary>
public sealed class AliasConf
{
    public IReadOnlyList<RedirectEntry> Redirects { get; init; } = [];
    public static readonly AliasConf Default = new();
    public static AliasConf Merge(AliasConf b, AliasConf n) => new() { Redirects = [.. n.Redirects, .. b.Redirects] };
}

/// <summary>mod_mime's per-extension settings (a section's entries override the inherited ones per extension).</summary>
public sealed class MimeConf
{
    public sealed record ExtInfo(string? Type, string? Encoding, string? Charset, string? Language, string? Handler,
        bool RemoveType = false, bool RemoveEncoding = false, bool RemoveCharset = false, bool RemoveLanguage = false, bool RemoveHandler = false);

    public IReadOnlyDictionary<string, ExtInfo> Extensions { get; init; } = new Dictionary<string, ExtInfo>(StringComparer.OrdinalIgnoreCase);
    public string? DefaultLanguage { get; init; }
    /// <summary>MultiviewsMatch (mod_mime), and mod_negotiation's LanguagePriority and ForceLanguagePriority, kept here with the extensions they work on.</summary>
    public MultiviewsMatch Multimatch { get; init; }
    public IReadOnlyList<string>? LanguagePriority { get; init; }
    public ForceLanguage ForceLanguage { get; init; }

    public static readonly MimeConf Default = new();

    public static MimeConf Merge(MimeConf b, MimeConf n)
    {
        var d = new Dictionary<string, ExtInfo>(b.Extensions, StringComparer.OrdinalIgnoreCase);
        foreach (var (ext, add) in n.Extensions)
        {
            d.TryGetValue(ext, out var baseInfo);
            baseInfo ??= new ExtInfo(null, null, null, null, null);
            d[ext] = new ExtInfo(
                add.RemoveType ? null : add.Type ?? baseInfo.Type,
                add.RemoveEncoding ? null : add.Encoding ?? baseInfo.Encoding,
                add.RemoveCharset ? null : add.Charset ?? baseInfo.Charset,
                add.RemoveLanguage ? null : add.Language ?? baseInfo.Language,
                add.RemoveHandler ? null : add.Handler ?? baseInfo.Handler);
        }
        return new MimeConf
        {
            Extensions = d, DefaultLanguage = n.DefaultLanguage ?? b.DefaultLanguage,
            Multimatch = n.Multimatch != MultiviewsMatch.Unset ? n.Multimatch : b.Multimatch,
            LanguagePriority = n.LanguagePriority ?? b.LanguagePriority,
            ForceLanguage = n.ForceLanguage != ForceLanguage.Unset ? n.ForceLanguage : b.ForceLanguage,
        };
    }
}

/// <summary>When mod_headers applies a Header directive.</summary>
public enum HeaderCondition { OnSuccess, Always }

/// <summary>One Header or RequestHeader directive.</summary>
public sealed record HeaderAction(bool Request, HeaderCondition Condition, string Action, string Name, HeaderValue? Value,
    string? Replacement, string? EnvCondition, Expr? ExprCondition, bool Early);

/// <summary>mod_headers: directives run in the order written, the inherited ones first.</summary>
public sealed class HeadersConf
{
    public IReadOnlyList<HeaderAction> Actions { get; init; } = [];
    public static readonly HeadersConf Default = new();
    public static HeadersConf Merge(HeadersConf b, HeadersConf n) => new() { Actions = [.. b.Actions, .. n.Actions] };
}

/// <summary>mod_env: SetEnv / UnsetEnv / PassEnv, merged per variable.</summary>
public sealed class EnvConf
{
    /// <summary>Variable → value to set, or null to unset.</summary>
    public IReadOnlyList<KeyValuePair<string, string?>> Vars { get; init; } = [];
    public static readonly EnvConf Default = new();

    public static EnvConf Merge(EnvConf b, EnvConf n)
    {
        var list = new List<KeyValuePair<string, string?>>(b.Vars);
        foreach (var kv in n.Vars)
        {
            list.RemoveAll(x => string.Equals(x.Key, kv.Key, StringComparison.OrdinalIgnoreCase));
            list.Add(kv);
        }
        return new EnvConf { Vars = list };
    }
}

/// <summary>One SetEnvIf / BrowserMatch / SetEnvIfExpr line.</summary>
public sealed record SetEnvIfEntry(string Attribute, Regex? AttributeRegex, Regex? Pattern, Expr? Expr, IReadOnlyList<(string Name, string? Value)> Vars);

/// <summary>mod_setenvif: the inherited lines, then the section's.</summary>
public sealed class SetEnvIfConf
{
    public IReadOnlyList<SetEnvIfEntry> Entries { get; init; } = [];
    public static readonly SetEnvIfConf Default = new();
    public static SetEnvIfConf Merge(SetEnvIfConf b, SetEnvIfConf n) => new() { Entries = [.. b.Entries, .. n.Entries] };
}

/// <summary>An expiry: from access (A) or modification (M) time, plus seconds.</summary>
public sealed record ExpiresSpec(char Base, long Seconds);

/// <summary>mod_expires.</summary>
public sealed class ExpiresConf
{
    public bool? Active { get; init; }
    public ExpiresSpec? Default { get; init; }
    public IReadOnlyDictionary<string, ExpiresSpec> ByType { get; init; } = new Dictionary<string, ExpiresSpec>(StringComparer.OrdinalIgnoreCase);

    public static readonly ExpiresConf Empty = new();

    public static ExpiresConf Merge(ExpiresConf b, ExpiresConf n)
    {
        var d = new Dictionary<string, ExpiresSpec>(b.ByType, StringComparer.OrdinalIgnoreCase);
        foreach (var kv in n.ByType) d[kv.Key] = kv.Value;
        return new ExpiresConf { Active = n.Active ?? b.Active, Default = n.Default ?? b.Default, ByType = d };
    }
}

/// <summary>mod_authn_core, mod_auth_basic, mod_authn_file, mod_authz_groupfile.</summary>
public sealed class AuthConf
{
    public string? AuthType { get; init; }
    public string? AuthName { get; init; }
    public string? UserFile { get; init; }
    public string? GroupFile { get; init; }

    public static readonly AuthConf Default = new();
    public static AuthConf Merge(AuthConf b, AuthConf n) => new()
    {
        AuthType = n.AuthType ?? b.AuthType, AuthName = n.AuthName ?? b.AuthName, UserFile = n.UserFile ?? b.UserFile, GroupFile = n.GroupFile ?? b.GroupFile,
    };
}

/// <summary>mod_authz_core: the section's Require tree, which replaces the inherited one (AuthMerging Off) or joins it (And / Or).</summary>
public sealed class AuthzConf
{
    public AuthzNode? Section { get; init; }
    /// <summary>AuthMerging: "off", "and", "or".</summary>
    public string? Merging { get; init; }

    public static readonly AuthzConf Default = new();

    public static AuthzConf Merge(AuthzConf b, AuthzConf n)
    {
        string op = n.Merging ?? "off";
        AuthzNode? section = n.Section;
        if (section is null) section = b.Section;
        else if (b.Section is not null && op != "off")
            section = new AuthzNode.Container(op == "and" ? AuthzNode.Kind.All : AuthzNode.Kind.Any, false, [b.Section, section], "", 0);
        return new AuthzConf { Section = section, Merging = n.Merging ?? b.Merging };
    }
}

/// <summary>mod_php's settings: name → (value, admin). An admin value is never replaced by a plain one.</summary>
public sealed class PhpConf
{
    public sealed record Setting(string Value, bool Admin, string File, int Line);

    public IReadOnlyDictionary<string, Setting> Values { get; init; } = new Dictionary<string, Setting>(StringComparer.Ordinal);

    public static readonly PhpConf Default = new();

    public static PhpConf Merge(PhpConf b, PhpConf n)
    {
        var d = new Dictionary<string, Setting>(b.Values, StringComparer.Ordinal);
        foreach (var (k, v) in n.Values)
            if (!d.TryGetValue(k, out var old) || v.Admin || !old.Admin) d[k] = v;
        return new PhpConf { Values = d };
    }
}

/// <summary>mod_autoindex (its plain, unfancy listing).</summary>
public sealed class AutoindexConf
{
    public IReadOnlyList<string> Ignore { get; init; } = [];
    public static readonly AutoindexConf Default = new();
    public static AutoindexConf Merge(AutoindexConf b, AutoindexConf n, bool reset) => new() { Ignore = reset ? n.Ignore : [.. b.Ignore, .. n.Ignore] };
}

/// <summary>Satisfy, kept apart from mod_access_compat's other settings because it merges differently.</summary>
public enum Satisfy { NoSpec, All, Any }

/// <summary>
/// A Header/RequestHeader value: text with mod_headers' format specifiers (%{VAR}e, %t, %D, %%),
/// or an ap_expr string when it starts with "expr=".
/// </summary>
public sealed class HeaderValue
{
    private readonly List<(char Kind, string Text)> _parts = new();
    private readonly Expr? _expr;

    public string Source { get; }

    public HeaderValue(string source)
    {
        Source = source;
        if (source.StartsWith("expr=", StringComparison.Ordinal)) { _expr = Expr.ParseString(source[5..]); return; }
        var lit = new System.Text.StringBuilder();
        for (int i = 0; i < source.Length; i++)
        {
            char c = source[i];
            if (c != '%' || i + 1 >= source.Length) { lit.Append(c); continue; }
            char n = source[i + 1];
            if (n == '%') { lit.Append('%'); i++; continue; }
            if (n is 't' or 'D') { Flush(); _parts.Add((n, "")); i++; continue; }
            if (n == '{')
            {
                int close = source.IndexOf('}', i);
                if (close > 0 && close + 1 < source.Length && source[close + 1] is 'e' or 's')
                {
                    Flush();
                    _parts.Add((source[close + 1], source[(i + 2)..close]));
                    i = close + 1;
                    continue;
                }
            }
            lit.Append(c);
        }
        Flush();
        void Flush() { if (lit.Length > 0) { _parts.Add(('l', lit.ToString())); lit.Clear(); } }
    }

    /// <summary>The value for a request: env lookups through <paramref name="env"/>, times from <paramref name="start"/>.</summary>
    public string Render(Func<string, string?> env, IExprContext ctx, DateTime start)
    {
        if (_expr is not null) return _expr.EvaluateString(ctx);
        if (_parts.Count == 1 && _parts[0].Kind == 'l') return _parts[0].Text;
        var sb = new System.Text.StringBuilder();
        foreach (var (kind, text) in _parts)
        {
            switch (kind)
            {
                case 'l': sb.Append(text); break;
                case 'e': sb.Append(env(text) ?? "(null)"); break;
                case 's': sb.Append("(null)"); break;
                case 't': sb.Append("t=").Append((start - DateTime.UnixEpoch).Ticks / 10); break;
                case 'D': sb.Append("D=").Append((DateTime.UtcNow - start).Ticks / 10); break;
            }
        }
        return sb.ToString();
    }
}
