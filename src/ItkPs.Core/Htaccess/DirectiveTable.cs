namespace ItkPs.Core.Htaccess;

/// <summary>
/// Apache's override categories (AllowOverride): what a .htaccess may say. A directive belongs to
/// one or more of them; server-only directives belong to none.
/// </summary>
[Flags]
public enum Overrides
{
    None = 0,
    Limit = 1,
    Options = 2,
    FileInfo = 4,
    AuthConfig = 8,
    Indexes = 16,
    All = Limit | Options | FileInfo | AuthConfig | Indexes,
}

/// <summary>Where a directive is read: Apache's RSRC_CONF (server, vhost) and ACCESS_CONF (&lt;Directory&gt;, &lt;Files&gt;, &lt;Location&gt;, &lt;If&gt;).</summary>
[Flags]
public enum Contexts
{
    None = 0,
    Server = 1,
    Directory = 2,
}

/// <summary>Where a directive is being compiled, and so which of its uses are allowed.</summary>
public enum ScopeKind { Server, VirtualHost, Directory, Files, Location, Htaccess }

/// <summary>One directive itkd knows: its module (for messages), its categories and its contexts, as in the module's command table.</summary>
public sealed record DirectiveInfo(string Name, string Module, Overrides Override, Contexts Contexts, bool Section = false)
{
    /// <summary>
    /// Whether the directive may appear here. In the configuration files Apache allows every
    /// category except AuthConfig and Limit outside &lt;Directory&gt;-like sections; a .htaccess
    /// allows what AllowOverride and AllowOverrideList grant.
    /// </summary>
    public bool AllowedIn(ScopeKind scope, Overrides allowed, IReadOnlySet<string>? allowList)
    {
        switch (scope)
        {
            case ScopeKind.Server:
            case ScopeKind.VirtualHost:
                return Contexts.HasFlag(Contexts.Server) || (Override & (Overrides.Options | Overrides.FileInfo | Overrides.Indexes)) != 0;
            case ScopeKind.Htaccess:
                return (Override & allowed) != 0 || (allowList is not null && allowList.Contains(Name));
            default:
                return Contexts.HasFlag(Contexts.Directory) || Override != Overrides.None;
        }
    }
}

/// <summary>
/// The directives itkd understands in per-request contexts, taken from the command tables of the
/// Apache modules it stands in for (core, mod_rewrite, mod_alias, mod_authz_core, mod_access_compat,
/// mod_mime, mod_dir, mod_headers, mod_env, mod_setenvif, mod_expires, mod_autoindex, mod_php…).
/// A name not in the table is unknown: in a .htaccess that is a 500, as in Apache.
/// </summary>
public static class DirectiveTable
{
    private const Contexts S = Contexts.Server, D = Contexts.Directory, SD = Contexts.Server | Contexts.Directory;

    /// <summary>Directives of the server and vhost contexts that the configuration reader handles itself.</summary>
    public static readonly IReadOnlyList<string> ServerLevel =
    [
        "<Directory", "<DirectoryMatch", "<Location", "<LocationMatch", "<VirtualHost", "Alias", "AliasMatch", "ScriptAlias", "ScriptAliasMatch",
        "DocumentRoot", "ServerName", "ServerAlias", "ServerAdmin", "Listen", "LoadModule", "AssignUserID", "AssignUserIDExpr", "MaxClientsVHost",
        "NiceValue", "User", "Group", "Include", "IncludeOptional", "ErrorLog", "CustomLog", "LogLevel", "TypesConfig", "AccessFileName",
        "ServerRoot", "Timeout", "CGIScriptTimeout", "KeepAlive", "LimitRequestLine", "LimitRequestFieldSize", "LimitRequestFields",
        "LimitUIDRange", "LimitGIDRange", "RequestReadTimeout", "Define",
    ];

    private static readonly DirectiveInfo[] All =
    [
        // core
        new("Options", "core", Overrides.Options, Contexts.None),
        new("AllowOverride", "core", Overrides.None, D),
        new("AllowOverrideList", "core", Overrides.None, D),
        new("AcceptPathInfo", "core", Overrides.FileInfo, Contexts.None),
        new("AddDefaultCharset", "core", Overrides.FileInfo, Contexts.None),
        new("CGIPassAuth", "core", Overrides.AuthConfig, D),
        new("DefaultType", "core", Overrides.FileInfo, Contexts.None),
        new("EnableMMAP", "core", Overrides.FileInfo, Contexts.None),
        new("EnableSendfile", "core", Overrides.FileInfo, Contexts.None),
        new("ErrorDocument", "core", Overrides.FileInfo, Contexts.None),
        new("FileETag", "core", Overrides.FileInfo, Contexts.None),
        new("ForceType", "core", Overrides.FileInfo, Contexts.None),
        new("SetHandler", "core", Overrides.FileInfo, Contexts.None),
        new("LimitRequestBody", "core", Overrides.All, S),
        new("LimitXMLRequestBody", "core", Overrides.All, S),
        new("ServerSignature", "core", Overrides.All, S),
        new("ContentDigest", "core", Overrides.Options, Contexts.None),
        new("Files", "core", Overrides.All, Contexts.None, Section: true),
        new("FilesMatch", "core", Overrides.All, Contexts.None, Section: true),
        new("If", "core", Overrides.All, Contexts.None, Section: true),
        new("ElseIf", "core", Overrides.All, Contexts.None, Section: true),
        new("Else", "core", Overrides.All, Contexts.None, Section: true),
        new("Limit", "core", Overrides.Limit | Overrides.AuthConfig, Contexts.None, Section: true),
        new("LimitExcept", "core", Overrides.Limit | Overrides.AuthConfig, Contexts.None, Section: true),
        // mod_authn_core, mod_auth_basic, mod_authn_file, mod_authz_groupfile
        new("AuthType", "mod_authn_core", Overrides.AuthConfig, Contexts.None),
        new("AuthName", "mod_authn_core", Overrides.AuthConfig, Contexts.None),
        new("AuthBasicProvider", "mod_auth_basic", Overrides.AuthConfig, Contexts.None),
        new("AuthBasicAuthoritative", "mod_auth_basic", Overrides.AuthConfig, Contexts.None),
        new("AuthUserFile", "mod_authn_file", Overrides.AuthConfig, Contexts.None),
        new("AuthGroupFile", "mod_authz_groupfile", Overrides.AuthConfig, Contexts.None),
        // mod_authz_core
        new("Require", "mod_authz_core", Overrides.AuthConfig, Contexts.None),
        new("RequireAll", "mod_authz_core", Overrides.AuthConfig, Contexts.None, Section: true),
        new("RequireAny", "mod_authz_core", Overrides.AuthConfig, Contexts.None, Section: true),
        new("RequireNone", "mod_authz_core", Overrides.AuthConfig, Contexts.None, Section: true),
        new("AuthMerging", "mod_authz_core", Overrides.AuthConfig, Contexts.None),
        // mod_access_compat
        new("Order", "mod_access_compat", Overrides.Limit, Contexts.None),
        new("Allow", "mod_access_compat", Overrides.Limit, Contexts.None),
        new("Deny", "mod_access_compat", Overrides.Limit, Contexts.None),
        new("Satisfy", "mod_access_compat", Overrides.AuthConfig, Contexts.None),
        // mod_alias (Alias and ScriptAlias are the vhost's, read by the configuration reader)
        new("Redirect", "mod_alias", Overrides.FileInfo, Contexts.None),
        new("RedirectMatch", "mod_alias", Overrides.FileInfo, Contexts.None),
        new("RedirectPermanent", "mod_alias", Overrides.FileInfo, Contexts.None),
        new("RedirectTemp", "mod_alias", Overrides.FileInfo, Contexts.None),
        // mod_dir
        new("DirectoryIndex", "mod_dir", Overrides.Indexes, Contexts.None),
        new("FallbackResource", "mod_dir", Overrides.Indexes, Contexts.None),
        new("DirectorySlash", "mod_dir", Overrides.Indexes, Contexts.None),
        new("DirectoryIndexRedirect", "mod_dir", Overrides.Indexes, Contexts.None),
        // mod_autoindex
        new("IndexIgnore", "mod_autoindex", Overrides.Indexes, Contexts.None),
        new("IndexIgnoreReset", "mod_autoindex", Overrides.Indexes, Contexts.None),
        new("IndexOptions", "mod_autoindex", Overrides.Indexes, Contexts.None),
        new("IndexOrderDefault", "mod_autoindex", Overrides.Indexes, Contexts.None),
        new("HeaderName", "mod_autoindex", Overrides.Indexes, Contexts.None),
        new("ReadmeName", "mod_autoindex", Overrides.Indexes, Contexts.None),
        new("AddDescription", "mod_autoindex", Overrides.Indexes, Contexts.None),
        // mod_mime
        new("AddType", "mod_mime", Overrides.FileInfo, Contexts.None),
        new("AddEncoding", "mod_mime", Overrides.FileInfo, Contexts.None),
        new("AddCharset", "mod_mime", Overrides.FileInfo, Contexts.None),
        new("AddLanguage", "mod_mime", Overrides.FileInfo, Contexts.None),
        new("AddHandler", "mod_mime", Overrides.FileInfo, Contexts.None),
        new("RemoveType", "mod_mime", Overrides.FileInfo, Contexts.None),
        new("RemoveEncoding", "mod_mime", Overrides.FileInfo, Contexts.None),
        new("RemoveCharset", "mod_mime", Overrides.FileInfo, Contexts.None),
        new("RemoveLanguage", "mod_mime", Overrides.FileInfo, Contexts.None),
        new("RemoveHandler", "mod_mime", Overrides.FileInfo, Contexts.None),
        new("DefaultLanguage", "mod_mime", Overrides.FileInfo, Contexts.None),
        new("MultiviewsMatch", "mod_mime", Overrides.FileInfo, Contexts.None),
        // mod_negotiation
        new("LanguagePriority", "mod_negotiation", Overrides.FileInfo, Contexts.None),
        new("ForceLanguagePriority", "mod_negotiation", Overrides.FileInfo, Contexts.None),
        // mod_headers
        new("Header", "mod_headers", Overrides.FileInfo, Contexts.None),
        new("RequestHeader", "mod_headers", Overrides.FileInfo, Contexts.None),
        // mod_env
        new("SetEnv", "mod_env", Overrides.FileInfo, Contexts.None),
        new("UnsetEnv", "mod_env", Overrides.FileInfo, Contexts.None),
        new("PassEnv", "mod_env", Overrides.FileInfo, Contexts.None),
        // mod_setenvif
        new("SetEnvIf", "mod_setenvif", Overrides.FileInfo, Contexts.None),
        new("SetEnvIfNoCase", "mod_setenvif", Overrides.FileInfo, Contexts.None),
        new("SetEnvIfExpr", "mod_setenvif", Overrides.FileInfo, Contexts.None),
        new("BrowserMatch", "mod_setenvif", Overrides.FileInfo, Contexts.None),
        new("BrowserMatchNoCase", "mod_setenvif", Overrides.FileInfo, Contexts.None),
        // mod_expires
        new("ExpiresActive", "mod_expires", Overrides.Indexes, Contexts.None),
        new("ExpiresDefault", "mod_expires", Overrides.Indexes, Contexts.None),
        new("ExpiresByType", "mod_expires", Overrides.Indexes, Contexts.None),
        // mod_rewrite
        new("RewriteEngine", "mod_rewrite", Overrides.FileInfo, Contexts.None),
        new("RewriteOptions", "mod_rewrite", Overrides.FileInfo, Contexts.None),
        new("RewriteBase", "mod_rewrite", Overrides.FileInfo, Contexts.None),
        new("RewriteCond", "mod_rewrite", Overrides.FileInfo, Contexts.None),
        new("RewriteRule", "mod_rewrite", Overrides.FileInfo, Contexts.None),
        new("RewriteMap", "mod_rewrite", Overrides.None, S),
        // read by the configuration reader, in the server and vhost contexts only: named here so that
        // a .htaccess using one gets Apache's "not allowed here", not "Invalid command"
        .. ServerLevel.Select(n => new DirectiveInfo(n.TrimStart('<'), "core", Overrides.None, S, Section: n.StartsWith('<'))),
        // mod_php: php_value and php_flag are OR_OPTIONS; the admin forms only in the configuration
        new("php_value", "mod_php", Overrides.Options, Contexts.None),
        new("php_flag", "mod_php", Overrides.Options, Contexts.None),
        new("php_admin_value", "mod_php", Overrides.None, SD),
        new("php_admin_flag", "mod_php", Overrides.None, SD),
    ];

    private static readonly Dictionary<string, DirectiveInfo> ByName = All.ToDictionary(d => d.Name, StringComparer.OrdinalIgnoreCase);

    /// <summary>The directive by name (case-insensitive, as Apache reads them), or null when unknown.</summary>
    public static DirectiveInfo? Find(string name) => ByName.GetValueOrDefault(name);

    /// <summary>
    /// Directives of modules itkd does not provide that Apache's stock configuration loads and that
    /// applications write without an &lt;IfModule&gt; guard: output compression and
    /// directory-listing icons. They change nothing a client depends on, so a .htaccess carrying them
    /// is served (they are logged once per file) rather than refused.
    /// </summary>
    public static readonly IReadOnlySet<string> Tolerated = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        "AddOutputFilter", "AddOutputFilterByType", "SetOutputFilter", "RemoveOutputFilter", "AddInputFilter", "SetInputFilter",
        "RemoveInputFilter", "AddIcon", "AddIconByType",
        "AddIconByEncoding", "AddAlt", "AddAltByType", "AddAltByEncoding", "DefaultIcon", "IndexStyleSheet", "IndexHeadInsert",
        "XBitHack",
    };

    /// <summary>
    /// The modules &lt;IfModule&gt; finds loaded in a .htaccess: what itkd implements, by module
    /// identifier and by source file name (Apache accepts both).
    /// </summary>
    public static readonly IReadOnlyList<string> ProvidedModules =
    [
        "core.c", "core_module", "http_core.c", "http_module", "mod_so.c", "so_module", "mpm_itk.c", "mpm_itk_module", "itk.c",
        "mod_version.c", "version_module", "mod_unixd.c", "unixd_module", "mod_log_config.c", "log_config_module",
        "mod_dir.c", "dir_module", "mod_mime.c", "mime_module", "mod_negotiation.c", "negotiation_module", "mod_alias.c", "alias_module",
        "mod_authz_core.c", "authz_core_module", "mod_authz_host.c", "authz_host_module", "mod_authz_user.c", "authz_user_module",
        "mod_authz_groupfile.c", "authz_groupfile_module", "mod_authn_core.c", "authn_core_module", "mod_authn_file.c", "authn_file_module",
        "mod_auth_basic.c", "auth_basic_module", "mod_access_compat.c", "access_compat_module",
        "mod_rewrite.c", "rewrite_module", "mod_headers.c", "headers_module", "mod_env.c", "env_module",
        "mod_setenvif.c", "setenvif_module", "mod_expires.c", "expires_module", "mod_autoindex.c", "autoindex_module",
        "mod_cgi.c", "cgi_module", "mod_cgid.c", "cgid_module", "mod_reqtimeout.c", "reqtimeout_module",
        "mod_proxy.c", "proxy_module", "mod_proxy_fcgi.c", "proxy_fcgi_module",
        // PHP runs under itkd (php-fpm as the site's user), with mod_php's per-directory settings
        "mod_php.c", "php_module",
    ];

    /// <summary>The Apache version &lt;IfVersion&gt; compares with: the 2.4 release whose behaviour itkd follows.</summary>
    public static readonly Version ApacheVersion = new(2, 4, 62);
}
