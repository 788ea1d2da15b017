using System.Globalization;
using System.Text.RegularExpressions;
using ItkPs.Core.Config;

namespace ItkPs.Core.Htaccess;

/// <summary>Where a list of directives is compiled: its kind, what a .htaccess may say there, and the section's path.</summary>
public sealed record CompileScope(ScopeKind Kind, Overrides Allowed = Overrides.All, IReadOnlySet<string>? AllowList = null,
    Opt OverrideOpts = Opt.Everything, string? Path = null)
{
    public static CompileScope Htaccess(string directory, Overrides allowed, IReadOnlySet<string>? allowList, Opt overrideOpts) =>
        new(ScopeKind.Htaccess, allowed, allowList, overrideOpts, directory);
}

/// <summary>
/// Turns the directives of one section or .htaccess file into a <see cref="Section"/>: each checked
/// against the directive table (unknown: Apache's "Invalid command"; not allowed here: "… not
/// allowed here"), its arguments parsed as its module parses them, and its effect stored in the
/// module's configuration. The first error ends the compilation, with file and line, as Apache
/// stops reading a .htaccess at its first error.
/// </summary>
public static class SectionCompiler
{
    public static Section Compile(IReadOnlyList<DirectiveRecord> records, CompileScope scope)
    {
        var b = new Builder(scope);
        b.Add(records, null, false);
        return b.Build();
    }

    private sealed class Builder(CompileScope scope)
    {
        private readonly Section _s = new();
        // core
        private bool _core;
        private bool _optsExplicit; private Opt _opts, _optsAdd, _optsRemove;
        private Overrides? _override; private Opt? _overrideOpts; private IReadOnlySet<string>? _overrideList;
        private string? _handler, _forceType, _charset; private bool? _acceptPathInfo, _cgiPassAuth; private long? _limitBody;
        private bool _etagExplicit; private ETagBits? _etag; private ETagBits _etagAdd, _etagRemove;
        private Dictionary<int, string>? _errorDocs;
        // others
        private DirConfBuilder? _dir;
        private List<RedirectEntry>? _redirects;
        private Dictionary<string, MimeConf.ExtInfo>? _mime; private string? _defaultLanguage;
        private MultiviewsMatch _multimatch; private List<string>? _langPriority; private ForceLanguage _forceLanguage;
        private List<HeaderAction>? _headers;
        private List<KeyValuePair<string, string?>>? _env;
        private List<SetEnvIfEntry>? _setEnvIf;
        private bool _expires; private bool? _expiresActive; private ExpiresSpec? _expiresDefault; private Dictionary<string, ExpiresSpec>? _expiresByType;
        private bool _auth; private string? _authType, _authName, _userFile, _groupFile;
        private List<AuthzNode>? _authz; private string? _authMerging;
        private bool _access; private AccessCompat.Order _order = AccessCompat.Order.DenyAllow; private List<AccessCompat.Entry>? _accessEntries; private Satisfy _satisfy = Satisfy.NoSpec;
        private Dictionary<string, PhpConf.Setting>? _php;
        private List<string>? _indexIgnore; private bool _indexReset;
        private bool _rewrite; private bool? _rwEngine; private RewriteOpt? _rwOptions; private string? _rwBase; private List<RewriteRuleEntry>? _rwRules;
        private readonly List<RewriteCondition> _pendingConds = new();

        private sealed class DirConfBuilder { public IReadOnlyList<string>? Index; public string? Fallback; public bool? Slash; public int? IndexRedirect; }

        private static DirectiveException Err(DirectiveRecord d, string message) => new(d.File, d.Line, message);

        public void Add(IReadOnlyList<DirectiveRecord> records, (IReadOnlySet<string> Methods, bool Except)? limit, bool inContainer, List<AuthzNode>? authzInto = null, AuthzNode.Kind containerKind = AuthzNode.Kind.Any)
        {
            for (int i = 0; i < records.Count; i++)
            {
                var d = records[i];
                var info = DirectiveTable.Find(d.Name);
                if (info is null)
                {
                    if (scope.Kind == ScopeKind.Htaccess && DirectiveTable.Tolerated.Contains(d.Name))
                    {
                        _s.Notices.Add($"{d.File}:{d.Line}: {d.Name} is not carried out by itkd (no output filters or content negotiation); ignored");
                        continue;
                    }
                    throw Err(d, $"Invalid command '{(d.Children is not null ? "<" + d.Name : d.Name)}', perhaps misspelled or defined by a module not included in the server configuration");
                }
                bool legacyVhostAuth = scope.Kind is ScopeKind.VirtualHost or ScopeKind.Server && info.Override == Overrides.AuthConfig;
                if (!legacyVhostAuth && !info.AllowedIn(scope.Kind, scope.Allowed, scope.AllowList))
                    throw Err(d, $"{(info.Section ? "<" + d.Name : d.Name)} not allowed here");
                if (info.Section != (d.Children is not null))
                    throw Err(d, info.Section ? $"<{d.Name}> is a section: write it as <{d.Name} …> … </{d.Name}>" : $"{d.Name} is not a section");
                if (d.Is("ElseIf") || d.Is("Else"))
                    throw Err(d, $"<{d.Name}> or <ElseIf> section without previous <If> or <ElseIf> section in same scope");
                if (d.Is("If"))
                {
                    // the chain: this <If> and the <ElseIf>/<Else> that follow it directly
                    var branches = new List<(Expr?, Section)> { (ParseIfExpr(d), Nested(d.Children!)) };
                    while (i + 1 < records.Count && (records[i + 1].Is("ElseIf") || records[i + 1].Is("Else")))
                    {
                        var e = records[++i];
                        bool isElse = e.Is("Else");
                        if (isElse && e.Args.Count > 0) throw Err(e, "<Else> does not take an argument");
                        branches.Add((isElse ? null : ParseIfExpr(e), Nested(e.Children!)));
                        if (isElse) break;
                    }
                    _s.Ifs.Add(new IfChain(branches));
                    continue;
                }
                Apply(d, limit, authzInto, containerKind);
            }
        }

        private Section Nested(IReadOnlyList<DirectiveRecord> children)
        {
            var inner = new Builder(scope with { Kind = scope.Kind == ScopeKind.Htaccess ? ScopeKind.Htaccess : ScopeKind.Directory });
            inner.Add(children, null, false);
            return inner.Build();
        }

        private static Expr ParseIfExpr(DirectiveRecord d)
        {
            string raw = Unquote(d.RawArgs ?? string.Join(' ', d.Args));
            if (raw.Length == 0) throw Err(d, $"<{d.Name}> needs an expression");
            try { return Expr.Parse(raw); }
            catch (FormatException e) { throw Err(d, $"Cannot parse condition clause: {e.Message}"); }
        }

        private static string Unquote(string s)
        {
            s = s.Trim();
            if (s.Length >= 2 && (s[0] == '"' && s[^1] == '"' || s[0] == '\'' && s[^1] == '\'')) return s[1..^1].Replace("\\\"", "\"");
            return s;
        }

        private static void Count(DirectiveRecord d, int min, int max, string what)
        {
            if (d.Args.Count < min || d.Args.Count > max) throw Err(d, $"{d.Name} takes {what}");
        }

        private static bool Flag(DirectiveRecord d)
        {
            Count(d, 1, 1, "one argument, On or Off");
            if (d.Args[0].Equals("on", StringComparison.OrdinalIgnoreCase)) return true;
            if (d.Args[0].Equals("off", StringComparison.OrdinalIgnoreCase)) return false;
            throw Err(d, $"{d.Name} must be On or Off");
        }

        private void Apply(DirectiveRecord d, (IReadOnlySet<string> Methods, bool Except)? limit, List<AuthzNode>? authzInto, AuthzNode.Kind containerKind)
        {
            var a = d.Args;
            switch (d.Name.ToLowerInvariant())
            {
                // ---- core ----
                case "options": Options(d); return;
                case "allowoverride": AllowOverride(d); return;
                case "allowoverridelist":
                    if (scope.Kind is not ScopeKind.Directory) throw Err(d, "AllowOverrideList not allowed here");
                    _core = true;
                    _overrideList = a.Count == 1 && a[0].Equals("None", StringComparison.OrdinalIgnoreCase)
                        ? new HashSet<string>() : new HashSet<string>(a, StringComparer.OrdinalIgnoreCase);
                    return;
                case "sethandler":
                    Count(d, 1, 1, "one argument, a handler name");
                    _core = true; _handler = a[0].ToLowerInvariant();
                    return;
                case "forcetype":
                    Count(d, 1, 1, "one argument, a media type");
                    _core = true; _forceType = a[0].ToLowerInvariant();
                    return;
                case "adddefaultcharset":
                    Count(d, 1, 1, "one argument, On, Off or a charset");
                    _core = true;
                    _charset = a[0].Equals("off", StringComparison.OrdinalIgnoreCase) ? "" : a[0].Equals("on", StringComparison.OrdinalIgnoreCase) ? "ISO-8859-1" : a[0];
                    return;
                case "fileetag": FileEtag(d); return;
                case "errordocument":
                    {
                        Count(d, 2, 2, "two arguments, an error code and a URL, a path or a message");
                        if (!int.TryParse(a[0], NumberStyles.None, CultureInfo.InvariantCulture, out int code) || (code != 500 && !ErrorPages.IsKnown(code)) || code < 300)
                            throw Err(d, $"Unsupported HTTP response code {a[0]}");
                        _core = true;
                        (_errorDocs ??= new())[code] = a[1];
                        return;
                    }
                case "acceptpathinfo":
                    Count(d, 1, 1, "one argument, On, Off or Default");
                    _core = true;
                    _acceptPathInfo = a[0].ToLowerInvariant() switch { "on" => true, "off" => false, "default" => null, _ => throw Err(d, "AcceptPathInfo must be set to on, off or default") };
                    return;
                case "limitrequestbody":
                    Count(d, 1, 1, "one argument, a number of bytes");
                    if (!long.TryParse(a[0], NumberStyles.None, CultureInfo.InvariantCulture, out long limitBody) || limitBody > 2147483647)
                        throw Err(d, "LimitRequestBody argument is not parsable.");
                    _core = true; _limitBody = limitBody;
                    return;
                case "cgipassauth": _core = true; _cgiPassAuth = Flag(d); return;
                case "serversignature": case "enablemmap": case "enablesendfile": case "contentdigest": case "defaulttype": case "limitxmlrequestbody":
                    return; // accepted; nothing to do in itkd (no signatures on error pages, no mmap, no Content-MD5)
                case "files":
                case "filesmatch":
                    {
                        bool regex = d.Is("FilesMatch") || (a.Count == 2 && a[0] == "~");
                        if (regex && a.Count == 2 && a[0] == "~") { }
                        else if (a.Count != 1) throw Err(d, $"<{d.Name}> takes one argument");
                        string pattern = a[^1];
                        Regex? rx = null;
                        if (regex)
                        {
                            try { rx = PcreRegex.Get(pattern); }
                            catch (ArgumentException) { throw Err(d, $"Regex could not be compiled: {pattern}"); }
                        }
                        var inner = new Builder(scope with { Kind = scope.Kind == ScopeKind.Htaccess ? ScopeKind.Htaccess : ScopeKind.Files });
                        inner.Add(d.Children!, null, false);
                        _s.Files.Add(new FilesSection(pattern, rx, inner.Build()));
                        return;
                    }
                case "limit":
                case "limitexcept":
                    {
                        if (a.Count == 0) throw Err(d, $"<{d.Name}> needs at least one method");
                        var methods = new HashSet<string>(StringComparer.Ordinal);
                        foreach (var m in a)
                        {
                            methods.Add(m);
                            if (m == "GET") methods.Add("HEAD"); // Apache's M_GET covers HEAD
                        }
                        Add(d.Children!, (methods, d.Is("LimitExcept")), true, authzInto, containerKind);
                        return;
                    }

                // ---- authentication ----
                case "authtype":
                    Count(d, 1, 1, "one argument, an HTTP authorization type (e.g., \"Basic\")");
                    _auth = true; _authType = a[0].Equals("None", StringComparison.OrdinalIgnoreCase) ? "" : a[0];
                    return;
                case "authname":
                    Count(d, 1, 1, "one argument, the authentication realm (e.g. \"Members Only\")");
                    _auth = true; _authName = a[0];
                    return;
                case "authuserfile":
                    Count(d, 1, 2, "one or two arguments, a file name and an optional file type");
                    _auth = true; _userFile = a[0];
                    return;
                case "authgroupfile":
                    Count(d, 1, 1, "one argument, a file name");
                    _auth = true; _groupFile = a[0];
                    return;
                case "authbasicprovider":
                    foreach (var p in a)
                        if (!p.Equals("file", StringComparison.OrdinalIgnoreCase))
                            throw Err(d, $"Unknown Authn provider: {p}");
                    return;
                case "authbasicauthoritative": Flag(d); return;
                case "authmerging":
                    Count(d, 1, 1, "one argument, Off, And or Or");
                    string mg = a[0].ToLowerInvariant();
                    if (mg is not ("off" or "and" or "or")) throw Err(d, "AuthMerging must be one of: off | and | or");
                    _authMerging = mg;
                    return;
                case "require":
                    (authzInto ?? (_authz ??= new())).Add(RequireLine(d, limit, containerKind, authzInto is null));
                    return;
                case "requireall":
                case "requireany":
                case "requirenone":
                    {
                        var kind = d.Is("RequireAll") ? AuthzNode.Kind.All : AuthzNode.Kind.Any;
                        bool negate = d.Is("RequireNone");
                        if (negate && containerKind == AuthzNode.Kind.Any)
                            throw Err(d, $"<{d.Name}> directive has no effect in <RequireAny> directive");
                        var children = new List<AuthzNode>();
                        Add(d.Children!, limit, true, children, kind);
                        if (children.Count == 0) throw Err(d, $"<{d.Name}> directive contains no authorization directives");
                        if (children.All(c => c is AuthzNode.Provider { Negate: true } || c is AuthzNode.Container { Negate: true }) && kind == AuthzNode.Kind.All)
                            throw Err(d, $"<{d.Name}> directive contains only negative authorization directives");
                        (authzInto ?? (_authz ??= new())).Add(new AuthzNode.Container(kind, negate, children, d.File, d.Line)
                        {
                            Methods = limit?.Methods, LimitExcept = limit?.Except ?? false,
                        });
                        return;
                    }

                // ---- mod_access_compat ----
                case "order":
                    Count(d, 1, 1, "one argument, 'allow,deny', 'deny,allow', or 'mutual-failure'");
                    _access = true;
                    _order = a[0].ToLowerInvariant() switch
                    {
                        "allow,deny" => AccessCompat.Order.AllowDeny, "deny,allow" => AccessCompat.Order.DenyAllow,
                        "mutual-failure" => AccessCompat.Order.MutualFailure, _ => throw Err(d, "unknown order"),
                    };
                    return;
                case "allow":
                case "deny":
                    {
                        if (a.Count < 2) throw Err(d, $"{d.Name} requires at least two arguments, 'from' followed by hostnames or IP-address wildcards");
                        if (!a[0].Equals("from", StringComparison.OrdinalIgnoreCase)) throw Err(d, "allow and deny must be followed by 'from'");
                        _access = true;
                        _accessEntries ??= new();
                        foreach (var where in a.Skip(1))
                            _accessEntries.Add(AccessEntry(d, d.Is("Allow"), where, limit));
                        return;
                    }
                case "satisfy":
                    Count(d, 1, 1, "one argument, 'all' or 'any'");
                    _access = true;
                    _satisfy = a[0].ToLowerInvariant() switch { "all" => Satisfy.All, "any" => Satisfy.Any, _ => throw Err(d, "Satisfy either 'any' or 'all'.") };
                    return;

                // ---- mod_alias ----
                case "redirect": case "redirectmatch": case "redirectpermanent": case "redirecttemp":
                    (_redirects ??= new()).Add(Redirect(d));
                    return;

                // ---- mod_dir ----
                case "directoryindex":
                    if (a.Count == 0) throw Err(d, "DirectoryIndex requires at least one argument");
                    (_dir ??= new()).Index = a.Count == 1 && a[0].Equals("disabled", StringComparison.OrdinalIgnoreCase) ? [] : a.ToList();
                    return;
                case "fallbackresource":
                    Count(d, 1, 1, "one argument, a URL path or 'disabled'");
                    (_dir ??= new()).Fallback = a[0];
                    return;
                case "directoryslash": (_dir ??= new()).Slash = Flag(d); return;
                case "directoryindexredirect":
                    Count(d, 1, 1, "one argument, On, Off, or a 3xx status code");
                    (_dir ??= new()).IndexRedirect = a[0].ToLowerInvariant() switch
                    {
                        "on" or "temp" => 302, "off" => 0, "permanent" => 301, "seeother" => 303,
                        _ => int.TryParse(a[0], out int s) && s is >= 300 and < 400 ? s : throw Err(d, "DirectoryIndexRedirect only accepts values between 300 and 399"),
                    };
                    return;

                // ---- mod_autoindex ----
                case "indexignore": (_indexIgnore ??= new()).AddRange(a); return;
                case "indexignorereset": _indexReset = Flag(d); _indexIgnore ??= new(); return;
                case "indexoptions": case "indexorderdefault": case "headername": case "readmename": case "adddescription":
                    _s.Notices.Add($"{d.File}:{d.Line}: {d.Name}: itkd lists directories in mod_autoindex's plain form only; ignored");
                    return;

                // ---- mod_mime ----
                case "addtype": Mime(d, (e, v) => e with { Type = v.ToLowerInvariant() }); return;
                case "addencoding": Mime(d, (e, v) => e with { Encoding = v.ToLowerInvariant() }); return;
                case "addcharset": Mime(d, (e, v) => e with { Charset = v.ToLowerInvariant() }); return;
                case "addlanguage": Mime(d, (e, v) => e with { Language = v.ToLowerInvariant() }); return;
                case "addhandler": Mime(d, (e, v) => e with { Handler = v.ToLowerInvariant() }); return;
                case "removetype": MimeRemove(d, e => e with { RemoveType = true }); return;
                case "removeencoding": MimeRemove(d, e => e with { RemoveEncoding = true }); return;
                case "removecharset": MimeRemove(d, e => e with { RemoveCharset = true }); return;
                case "removelanguage": MimeRemove(d, e => e with { RemoveLanguage = true }); return;
                case "removehandler": MimeRemove(d, e => e with { RemoveHandler = true }); return;
                case "defaultlanguage": Count(d, 1, 1, "one argument, a language tag"); _mime ??= new(StringComparer.OrdinalIgnoreCase); _defaultLanguage = a[0]; return;
                case "multiviewsmatch":
                    Count(d, 1, int.MaxValue, "one or more of Any, NegotiatedOnly, Filters, Handlers");
                    _mime ??= new(StringComparer.OrdinalIgnoreCase);
                    foreach (var v in a)
                    {
                        var m = v.ToLowerInvariant() switch
                        {
                            "any" => MultiviewsMatch.Any, "negotiatedonly" => MultiviewsMatch.NegotiatedOnly,
                            "filters" => MultiviewsMatch.Filters, "handlers" => MultiviewsMatch.Handlers,
                            _ => throw Err(d, "Unrecognized option"),
                        };
                        if (m is MultiviewsMatch.Any or MultiviewsMatch.NegotiatedOnly && (_multimatch & ~m) != 0)
                            throw Err(d, "Any is incompatible with NegotiatedOnly, Filters and Handlers");
                        if (m is MultiviewsMatch.Filters or MultiviewsMatch.Handlers && (_multimatch & (MultiviewsMatch.Any | MultiviewsMatch.NegotiatedOnly)) != 0)
                            throw Err(d, $"{(m == MultiviewsMatch.Filters ? "Filters" : "Handlers")} is incompatible with Any and NegotiatedOnly");
                        _multimatch |= m;
                    }
                    return;

                // ---- mod_negotiation ----
                case "languagepriority":
                    Count(d, 1, int.MaxValue, "one or more language tags");
                    _mime ??= new(StringComparer.OrdinalIgnoreCase);
                    (_langPriority ??= new()).AddRange(a);
                    return;
                case "forcelanguagepriority":
                    Count(d, 1, int.MaxValue, "Prefer, Fallback or None");
                    _mime ??= new(StringComparer.OrdinalIgnoreCase);
                    foreach (var v in a)
                    {
                        var f = v.ToLowerInvariant() switch
                        {
                            "none" => ForceLanguage.None, "prefer" => ForceLanguage.Prefer, "fallback" => ForceLanguage.Fallback,
                            _ => throw Err(d, $"Invalid ForceLanguagePriority option {v}"),
                        };
                        if (f == ForceLanguage.None ? (_forceLanguage & ~ForceLanguage.None) != 0 : (_forceLanguage & ForceLanguage.None) != 0)
                            throw Err(d, "Cannot combine ForceLanguagePriority options with None");
                        _forceLanguage |= f;
                    }
                    return;

                // ---- mod_headers ----
                case "header": (_headers ??= new()).Add(Header(d, request: false)); return;
                case "requestheader": (_headers ??= new()).Add(Header(d, request: true)); return;

                // ---- mod_env ----
                case "setenv":
                    Count(d, 1, 2, "one or two arguments, a variable name and an optional value");
                    if (a[0].Contains('=')) throw Err(d, $"Environment variable name '{a[0]}' may not contain '='");
                    (_env ??= new()).Add(new(a[0], a.Count > 1 ? a[1] : ""));
                    return;
                case "unsetenv":
                    foreach (var v in a) (_env ??= new()).Add(new(v, null));
                    return;
                case "passenv":
                    foreach (var v in a) (_env ??= new()).Add(new(v, Environment.GetEnvironmentVariable(v)));
                    return;

                // ---- mod_setenvif ----
                case "setenvif": case "setenvifnocase": case "browsermatch": case "browsermatchnocase": case "setenvifexpr":
                    (_setEnvIf ??= new()).Add(SetEnvIf(d));
                    return;

                // ---- mod_expires ----
                case "expiresactive": _expires = true; _expiresActive = Flag(d); return;
                case "expiresdefault":
                    if (a.Count == 0) throw Err(d, "ExpiresDefault requires an argument");
                    _expires = true; _expiresDefault = Expiry(d, a);
                    return;
                case "expiresbytype":
                    if (a.Count < 2) throw Err(d, "ExpiresByType takes a media type and an expiry");
                    _expires = true; (_expiresByType ??= new(StringComparer.OrdinalIgnoreCase))[a[0]] = Expiry(d, a.Skip(1).ToList());
                    return;

                // ---- mod_rewrite ----
                case "rewriteengine": _rewrite = true; _rwEngine = Flag(d); return;
                case "rewriteoptions":
                    {
                        var opts = RewriteOpt.None;
                        foreach (var w in a)
                        {
                            opts |= w.ToLowerInvariant() switch
                            {
                                "inherit" => RewriteOpt.Inherit, "inheritbefore" => RewriteOpt.InheritBefore, "inheritdown" => RewriteOpt.InheritDown,
                                "inheritdownbefore" => RewriteOpt.InheritDownBefore, "ignoreinherit" => RewriteOpt.IgnoreInherit,
                                "allownoslash" => RewriteOpt.AllowNoSlash, "allowanyuri" => RewriteOpt.AllowAnyUri, "mergebase" => RewriteOpt.MergeBase,
                                "ignorecontextinfo" => RewriteOpt.IgnoreContextInfo, "legacyprefixdocroot" => RewriteOpt.LegacyPrefixDocroot,
                                "longurloptimization" => RewriteOpt.None,
                                _ when w.StartsWith("MaxRedirects=", StringComparison.OrdinalIgnoreCase) => RewriteOpt.None,
                                _ => throw Err(d, $"RewriteOptions: unknown option '{w}'"),
                            };
                        }
                        _rewrite = true; _rwOptions = (_rwOptions ?? RewriteOpt.None) | opts;
                        return;
                    }
                case "rewritebase":
                    Count(d, 1, 1, "one argument, the base URL of the per-directory context");
                    if (scope.Kind is ScopeKind.Server or ScopeKind.VirtualHost) throw Err(d, "RewriteBase: only valid in per-directory config files");
                    if (a[0].Length == 0) throw Err(d, "RewriteBase: empty URL not allowed");
                    if (a[0][0] != '/') throw Err(d, "RewriteBase: argument is not a valid URL");
                    _rewrite = true; _rwBase = a[0];
                    return;
                case "rewritemap":
                    throw Err(d, "RewriteMap: itkd has no rewrite maps; a ${map:key} lookup would always give its default");
                case "rewritecond":
                    try { _pendingConds.Add(RewriteParser.ParseCond(d.RawArgs ?? string.Join(' ', a), Expr.Parse)); }
                    catch (FormatException e) { throw Err(d, e.Message); }
                    _rewrite = true;
                    return;
                case "rewriterule":
                    try { (_rwRules ??= new()).Add(RewriteParser.ParseRule(d.RawArgs ?? string.Join(' ', a), _pendingConds.ToList(), d.File, d.Line)); }
                    catch (FormatException e) { throw Err(d, e.Message); }
                    _pendingConds.Clear();
                    _rewrite = true;
                    return;

                // ---- mod_php ----
                case "php_value":
                case "php_flag":
                case "php_admin_value":
                case "php_admin_flag":
                    {
                        if (a.Count != 2) throw Err(d, $"{d.Name} takes two arguments, PHP {(d.Name.EndsWith("flag", StringComparison.OrdinalIgnoreCase) ? "Flag" : "Value")} Modifier{(d.Name.Contains("admin", StringComparison.OrdinalIgnoreCase) ? " (Admin)" : "")}");
                        bool flag = d.Name.EndsWith("flag", StringComparison.OrdinalIgnoreCase);
                        string value = flag
                            ? (a[1].Equals("On", StringComparison.OrdinalIgnoreCase) || a[1] == "1" ? "1" : "0")
                            : (a[1].Equals("none", StringComparison.OrdinalIgnoreCase) ? "" : a[1]);
                        (_php ??= new(StringComparer.Ordinal))[a[0]] = new PhpConf.Setting(value, d.Name.Contains("admin", StringComparison.OrdinalIgnoreCase), d.File, d.Line);
                        return;
                    }
            }
            throw Err(d, $"{d.Name}: itkd knows this directive but not in this place");
        }

        private void Options(DirectiveRecord d)
        {
            if (d.Args.Count == 0) throw Err(d, "Options requires at least one argument, Set a number of attributes for a given directory");
            _core = true;
            bool first = true, merge = false, allNone = false;
            var opts = _optsExplicit ? _opts : Opt.None;
            bool explicitSet = _optsExplicit;
            Opt add = _optsAdd, remove = _optsRemove;
            foreach (var word in d.Args)
            {
                string w = word;
                char action = '\0';
                if (w.Length > 0 && w[0] is '+' or '-')
                {
                    action = w[0]; w = w[1..];
                    if (!merge && !first && !allNone) throw Err(d, "Either all Options must start with + or -, or no Option may.");
                    merge = true;
                }
                else if (first) { opts = Opt.None; explicitSet = true; }
                else if (merge) throw Err(d, "Either all Options must start with + or -, or no Option may.");
                Opt opt = w.ToLowerInvariant() switch
                {
                    "indexes" => Opt.Indexes,
                    "includes" => Opt.Includes | Opt.IncludesExec,
                    "includesnoexec" => Opt.Includes,
                    "followsymlinks" => Opt.FollowSymLinks,
                    "symlinksifownermatch" => Opt.SymLinksIfOwnerMatch,
                    "execcgi" => Opt.ExecCGI,
                    "multiviews" => Opt.MultiViews,
                    "runscripts" => Opt.MultiViews | Opt.ExecCGI,
                    "none" => !first ? throw Err(d, "'Options None' must be the first Option given.") : merge ? throw Err(d, "You may not use 'Options +None' or 'Options -None'.") : Opt.None,
                    "all" => !first ? throw Err(d, "'Options All' must be the first option given.") : merge ? throw Err(d, "You may not use 'Options +All' or 'Options -All'.") : Opt.All,
                    _ => throw Err(d, $"Illegal option {w}"),
                };
                if (w.Equals("none", StringComparison.OrdinalIgnoreCase) || w.Equals("all", StringComparison.OrdinalIgnoreCase)) allNone = true;
                if (scope.Kind == ScopeKind.Htaccess && (scope.OverrideOpts & opt) != opt) throw Err(d, $"Option {w} not allowed here");
                if (action == '-') { remove |= opt; add &= ~opt; opts &= ~opt; }
                else if (action == '+') { add |= opt; remove &= ~opt; opts |= opt; }
                else opts |= opt;
                first = false;
            }
            _optsExplicit = explicitSet; _opts = opts; _optsAdd = add; _optsRemove = remove;
        }

        private void AllowOverride(DirectiveRecord d)
        {
            if (scope.Kind == ScopeKind.Htaccess) throw Err(d, "AllowOverride not allowed here");
            if (scope.Kind is not ScopeKind.Directory) throw Err(d, "AllowOverride not allowed here: it belongs in <Directory> (without a regular expression)");
            if (d.Args.Count == 0) throw Err(d, "AllowOverride requires at least one argument");
            _core = true;
            var o = Overrides.None;
            Opt? opts = null;
            foreach (var word in d.Args)
            {
                int eq = word.IndexOf('=');
                string k = eq < 0 ? word : word[..eq];
                switch (k.ToLowerInvariant())
                {
                    case "limit": o |= Overrides.Limit; break;
                    case "options":
                        o |= Overrides.Options;
                        if (eq < 0) opts = Opt.All;
                        else
                        {
                            Opt allowed = Opt.None;
                            foreach (var name in word[(eq + 1)..].Split(','))
                                allowed |= name.ToLowerInvariant() switch
                                {
                                    "indexes" => Opt.Indexes, "includes" => Opt.Includes | Opt.IncludesExec, "includesnoexec" => Opt.Includes,
                                    "followsymlinks" => Opt.FollowSymLinks, "symlinksifownermatch" => Opt.SymLinksIfOwnerMatch,
                                    "execcgi" => Opt.ExecCGI, "multiviews" => Opt.MultiViews, "all" => Opt.All,
                                    "none" => Opt.None, _ => throw Err(d, $"Illegal option {name}"),
                                };
                            opts = allowed;
                        }
                        break;
                    case "fileinfo": o |= Overrides.FileInfo; break;
                    case "authconfig": o |= Overrides.AuthConfig; break;
                    case "indexes": o |= Overrides.Indexes; break;
                    case "nonfatal": break; // Nonfatal=Override|Unknown|All: itkd always answers an error with 500, as without it
                    case "none": o = Overrides.None; break;
                    case "all": o = Overrides.All; opts = Opt.Everything; break;
                    default: throw Err(d, $"Illegal override option {word}");
                }
            }
            _override = o;
            _overrideOpts = opts ?? (o.HasFlag(Overrides.Options) ? Opt.All : Opt.Everything);
        }

        private void FileEtag(DirectiveRecord d)
        {
            if (d.Args.Count == 0) throw Err(d, "FileETag requires at least one argument");
            _core = true;
            bool valid = true, explicitSet = false;
            ETagBits bits = ETagBits.None, add = ETagBits.None, remove = ETagBits.None;
            foreach (var word in d.Args)
            {
                char action = word[0] is '+' or '-' ? word[0] : '\0';
                string w = action == '\0' ? word : word[1..];
                ETagBits bit = w.ToLowerInvariant() switch
                {
                    "none" => ETagBits.None, "all" => ETagBits.All, "inode" => ETagBits.Inode, "mtime" => ETagBits.MTime, "size" => ETagBits.Size,
                    _ => throw Err(d, $"Unknown keyword '{w}' for FileETag directive"),
                };
                if (action == '\0')
                {
                    if (w.Equals("none", StringComparison.OrdinalIgnoreCase) && d.Args.Count > 1) valid = false;
                    bits |= bit; explicitSet = true;
                }
                else if (action == '+') add |= bit;
                else remove |= bit;
            }
            if (!valid || (explicitSet && (add | remove) != ETagBits.None))
                throw Err(d, "FileETag 'None' or explicit settings may not be mixed with +/- changes");
            _etagExplicit = explicitSet;
            _etag = explicitSet ? bits : null;
            _etagAdd = add; _etagRemove = remove;
        }

        private AuthzNode RequireLine(DirectiveRecord d, (IReadOnlySet<string> Methods, bool Except)? limit, AuthzNode.Kind containerKind, bool topLevel)
        {
            if (d.Args.Count == 0) throw Err(d, "Require requires an argument, Specifies authorization required to access");
            var words = d.Args.ToList();
            bool negate = false;
            if (words[0].Equals("not", StringComparison.OrdinalIgnoreCase))
            {
                negate = true;
                words.RemoveAt(0);
                if (words.Count == 0) throw Err(d, "Require not requires a provider");
                if (topLevel || containerKind == AuthzNode.Kind.Any)
                    throw Err(d, "negative Require directive has no effect in <RequireAny> directive");
            }
            string provider = words[0].ToLowerInvariant();
            var args = words.Skip(1).ToList();
            Expr? expr = null;
            List<Subnet>? nets = null;
            switch (provider)
            {
                case "all":
                    if (args.Count != 1 || !(args[0].Equals("granted", StringComparison.OrdinalIgnoreCase) || args[0].Equals("denied", StringComparison.OrdinalIgnoreCase)))
                        throw Err(d, "Require all only takes 'granted' or 'denied'");
                    break;
                case "valid-user":
                    break;
                case "user": case "group": case "env": case "method": case "host": case "forward-dns":
                    if (args.Count == 0) throw Err(d, $"Require {provider} needs at least one argument");
                    break;
                case "local":
                    break;
                case "ip":
                    if (args.Count == 0) throw Err(d, "Require ip needs at least one address");
                    nets = new();
                    foreach (var ip in args)
                    {
                        if (!Subnet.TryParse(ip, out var net)) throw Err(d, $"ip address '{ip}' appears to be invalid");
                        nets.Add(net!);
                    }
                    break;
                case "expr":
                    {
                        string raw = d.RawArgs ?? string.Join(' ', d.Args);
                        int at = raw.IndexOf("expr", StringComparison.OrdinalIgnoreCase);
                        string text = Unquote(raw[(at + 4)..]);
                        try { expr = Expr.Parse(text); }
                        catch (FormatException e) { throw Err(d, $"Cannot parse expression in require line: {e.Message}"); }
                        break;
                    }
                default:
                    throw Err(d, $"Unknown Authz provider: {words[0]}");
            }
            return new AuthzNode.Provider(provider, args, negate, expr, nets, d.File, d.Line) { Methods = limit?.Methods, LimitExcept = limit?.Except ?? false };
        }

        private static AccessCompat.Entry AccessEntry(DirectiveRecord d, bool allow, string where, (IReadOnlySet<string> Methods, bool Except)? limit)
        {
            var methods = limit?.Methods;
            bool except = limit?.Except ?? false;
            if (where.StartsWith("env=", StringComparison.OrdinalIgnoreCase))
            {
                string v = where[4..];
                bool neg = v.StartsWith('!');
                return new(allow, false, null, neg ? v[1..] : v, neg, null, methods, except);
            }
            if (where.Equals("all", StringComparison.OrdinalIgnoreCase)) return new(allow, true, null, null, false, null, methods, except);
            if (Subnet.TryParse(where, out var net)) return new(allow, false, net, null, false, null, methods, except);
            if (where.Contains('/') || where.All(c => char.IsDigit(c) || c == '.'))
                throw Err(d, "An IP address was expected");
            return new(allow, false, null, null, false, where, methods, except);
        }

        private RedirectEntry Redirect(DirectiveRecord d)
        {
            var a = d.Args.ToList();
            bool match = d.Is("RedirectMatch");
            int status = d.Is("RedirectPermanent") ? 301 : 302;
            bool statusGiven = false;
            if (d.Is("Redirect") || match)
            {
                if (a.Count > 0)
                {
                    string s = a[0].ToLowerInvariant();
                    int? code = s switch { "permanent" => 301, "temp" => 302, "seeother" => 303, "gone" => 410, _ => null };
                    if (code is null && s.Length > 0 && s.All(char.IsDigit)) code = int.Parse(s, CultureInfo.InvariantCulture);
                    if (code is not null) { status = code.Value; statusGiven = true; a.RemoveAt(0); }
                }
            }
            bool redirectStatus = status is >= 300 and < 400;
            string? urlPath, target;
            if (redirectStatus)
            {
                if (a.Count == 2) { urlPath = a[0]; target = a[1]; }
                else if (a.Count == 1 && scope.Kind == ScopeKind.Location) { urlPath = null; target = a[0]; }
                else throw Err(d, $"{d.Name} takes two or three arguments, an optional status, then document to be redirected and destination URL");
                if (!target.StartsWith('/') && RewriteEngine.AbsoluteUriSchemeLength(target) == 0 && !Regex.IsMatch(target, "^[a-zA-Z][a-zA-Z0-9+.-]*:"))
                    throw Err(d, $"{d.Name} to non-URL");
            }
            else
            {
                if (statusGiven && a.Count == 2) throw Err(d, "Redirect URL not valid for this status");
                if (a.Count != 1) throw Err(d, $"{d.Name} takes an optional status and the document to be redirected");
                urlPath = a[0]; target = null;
            }
            Regex? rx = null;
            if (match)
            {
                try { rx = PcreRegex.Get(urlPath ?? ""); }
                catch (ArgumentException) { throw Err(d, "Regular expression could not be compiled."); }
            }
            else if (urlPath is not null && !urlPath.StartsWith('/'))
                throw Err(d, $"URL path in {d.Name} must start with '/'");
            return new RedirectEntry(status, target, match ? null : urlPath ?? scope.Path, rx, d.File, d.Line);
        }

        private void Mime(DirectiveRecord d, Func<MimeConf.ExtInfo, string, MimeConf.ExtInfo> set)
        {
            if (d.Args.Count < 2) throw Err(d, $"{d.Name} requires at least two arguments, a value followed by one or more file extensions");
            _mime ??= new(StringComparer.OrdinalIgnoreCase);
            string value = d.Args[0];
            foreach (var e in d.Args.Skip(1))
            {
                string ext = e.TrimStart('.').ToLowerInvariant();
                _mime.TryGetValue(ext, out var info);
                _mime[ext] = set(info ?? new MimeConf.ExtInfo(null, null, null, null, null), value);
            }
        }

        private void MimeRemove(DirectiveRecord d, Func<MimeConf.ExtInfo, MimeConf.ExtInfo> set)
        {
            if (d.Args.Count < 1) throw Err(d, $"{d.Name} requires at least one argument, one or more file extensions");
            _mime ??= new(StringComparer.OrdinalIgnoreCase);
            foreach (var e in d.Args)
            {
                string ext = e.TrimStart('.').ToLowerInvariant();
                _mime.TryGetValue(ext, out var info);
                _mime[ext] = set(info ?? new MimeConf.ExtInfo(null, null, null, null, null));
            }
        }

        private static HeaderAction Header(DirectiveRecord d, bool request)
        {
            var a = d.Args.ToList();
            var condition = HeaderCondition.OnSuccess;
            if (!request && a.Count > 0 && (a[0].Equals("always", StringComparison.OrdinalIgnoreCase) || a[0].Equals("onsuccess", StringComparison.OrdinalIgnoreCase)))
            {
                condition = a[0].Equals("always", StringComparison.OrdinalIgnoreCase) ? HeaderCondition.Always : HeaderCondition.OnSuccess;
                a.RemoveAt(0);
            }
            if (a.Count < 2) throw Err(d, $"{d.Name} requires at least two arguments");
            string action = a[0].ToLowerInvariant();
            string[] actions = request ? ["set", "setifempty", "append", "add", "merge", "unset", "edit", "edit*"]
                : ["set", "setifempty", "append", "add", "merge", "unset", "echo", "edit", "edit*", "note"];
            if (!actions.Contains(action))
                throw Err(d, $"first argument must be 'add', 'set', 'setifempty', 'append', 'merge', 'unset', {(request ? "" : "'echo', 'note', ")}'edit', or 'edit*'.");
            string name = a[1];
            var rest = a.Skip(2).ToList();
            string? value = null, replacement = null, env = null;
            Expr? expr = null;
            bool early = false;
            int valueCount = action is "unset" or "echo" ? 0 : action is "edit" or "edit*" ? 2 : 1;
            if (rest.Count < valueCount) throw Err(d, action is "edit" or "edit*" ? $"{d.Name} edit requires a regular expression and a replacement" : $"{d.Name} requires three arguments");
            if (valueCount >= 1) value = rest[0];
            if (valueCount == 2) replacement = rest[1];
            var extra = rest.Skip(valueCount).ToList();
            if (extra.Count > 1) throw Err(d, $"{d.Name} has too many arguments");
            if (extra.Count == 1)
            {
                string e = extra[0];
                if (e.Equals("early", StringComparison.OrdinalIgnoreCase)) early = true;
                else if (e.StartsWith("env=", StringComparison.OrdinalIgnoreCase)) env = e[4..];
                else if (e.StartsWith("expr=", StringComparison.OrdinalIgnoreCase))
                {
                    try { expr = Expr.Parse(e[5..]); }
                    catch (FormatException ex) { throw Err(d, $"Can't parse envclause/expression: {ex.Message}"); }
                }
                else throw Err(d, $"{d.Name}: the fifth argument must be 'early', 'env=…' or 'expr=…', found '{e}'");
            }
            HeaderValue? hv = null;
            if (value is not null && action is not ("edit" or "edit*"))
            {
                try { hv = new HeaderValue(value); }
                catch (FormatException ex) { throw Err(d, $"{d.Name}: {ex.Message}"); }
            }
            if (action is "edit" or "edit*" || action == "echo")
            {
                try { PcreRegex.Get(action == "echo" ? name : value!); }
                catch (ArgumentException) { throw Err(d, "Header edit regex could not be compiled"); }
                if (action is "edit" or "edit*") hv = new HeaderValue(value!);
            }
            return new HeaderAction(request, condition, action, name, hv, replacement, env, expr, early);
        }

        private static SetEnvIfEntry SetEnvIf(DirectiveRecord d)
        {
            var a = d.Args.ToList();
            if (d.Is("SetEnvIfExpr"))
            {
                if (a.Count < 2) throw Err(d, "SetEnvIfExpr requires an expression and at least one variable");
                Expr e;
                try { e = Expr.Parse(a[0]); }
                catch (FormatException ex) { throw Err(d, $"Could not parse expression \"{a[0]}\": {ex.Message}"); }
                return new SetEnvIfEntry("", null, null, e, Vars(a.Skip(1)));
            }
            bool nocase = d.Name.EndsWith("NoCase", StringComparison.OrdinalIgnoreCase);
            if (d.Name.StartsWith("BrowserMatch", StringComparison.OrdinalIgnoreCase)) a.Insert(0, "User-Agent");
            if (a.Count < 3) throw Err(d, $"{d.Name} requires an attribute, a regular expression and at least one variable");
            string attr = a[0];
            Regex? attrRx = null;
            if (attr.IndexOfAny(['^', '$', '*', '+', '?', '(', ')', '[', ']', '{', '}', '|', '\\', '.']) >= 0 && !IsSpecialAttribute(attr))
            {
                try { attrRx = PcreRegex.Get(attr, true); } catch (ArgumentException) { throw Err(d, $"{d.Name} regex could not be compiled."); }
            }
            Regex rx;
            try { rx = PcreRegex.Get(a[1], nocase); } catch (ArgumentException) { throw Err(d, $"{d.Name} regex could not be compiled."); }
            return new SetEnvIfEntry(attr, attrRx, rx, null, Vars(a.Skip(2)));
        }

        private static bool IsSpecialAttribute(string a) =>
            a.Equals("Remote_Host", StringComparison.OrdinalIgnoreCase) || a.Equals("Remote_Addr", StringComparison.OrdinalIgnoreCase)
            || a.Equals("Server_Addr", StringComparison.OrdinalIgnoreCase) || a.Equals("Request_Method", StringComparison.OrdinalIgnoreCase)
            || a.Equals("Request_Protocol", StringComparison.OrdinalIgnoreCase) || a.Equals("Request_URI", StringComparison.OrdinalIgnoreCase);

        private static List<(string, string?)> Vars(IEnumerable<string> words) =>
            words.Select(w =>
            {
                if (w.StartsWith('!')) return (w[1..], (string?)null);
                int eq = w.IndexOf('=');
                return eq < 0 ? (w, "1") : (w[..eq], w[(eq + 1)..]);
            }).ToList();

        /// <summary>mod_expires' two syntaxes: "A3600"/"M3600", or "access plus 1 month 2 days".</summary>
        private static ExpiresSpec Expiry(DirectiveRecord d, IReadOnlyList<string> words)
        {
            if (words.Count == 1 && words[0].Length > 1 && words[0][0] is 'A' or 'M' && long.TryParse(words[0][1..], out long secs))
                return new ExpiresSpec(words[0][0], secs);
            var w = string.Join(' ', words).Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (w.Length == 0) throw Err(d, "bad expires code, missing <type>");
            char b = w[0].ToLowerInvariant() switch { "access" or "now" => 'A', "modification" => 'M', _ => throw Err(d, $"bad expires code, unrecognised <base> '{w[0]}'") };
            int i = 1;
            if (i < w.Length && w[i].Equals("plus", StringComparison.OrdinalIgnoreCase)) i++;
            long total = 0;
            while (i < w.Length)
            {
                if (!long.TryParse(w[i], out long num)) throw Err(d, $"bad expires code, numeric value expected <num> '{w[i]}'");
                if (++i >= w.Length) throw Err(d, "bad expires code, missing <type>");
                string unit = w[i++].ToLowerInvariant().TrimEnd('s');
                long mult = unit switch
                {
                    "year" => 60 * 60 * 24 * 365, "month" => 60 * 60 * 24 * 30, "week" => 60 * 60 * 24 * 7, "day" => 60 * 60 * 24,
                    "hour" => 60 * 60, "minute" => 60, "second" => 1, _ => throw Err(d, $"bad expires code, unrecognised <type> '{unit}'"),
                };
                total += num * mult;
            }
            return new ExpiresSpec(b, total);
        }

        public Section Build()
        {
            if (_core)
                _s.Core = new CoreConf
                {
                    OptsExplicit = _optsExplicit, Opts = _opts, OptsAdd = _optsAdd, OptsRemove = _optsRemove,
                    AllowOverride = _override, OverrideOpts = _overrideOpts, AllowOverrideList = _overrideList,
                    Handler = _handler, ForceType = _forceType, DefaultCharset = _charset,
                    EtagExplicit = _etagExplicit, Etag = _etag, EtagAdd = _etagAdd, EtagRemove = _etagRemove,
                    ErrorDocuments = _errorDocs, AcceptPathInfo = _acceptPathInfo, LimitRequestBody = _limitBody, CgiPassAuth = _cgiPassAuth,
                };
            if (_dir is not null) _s.Dir = new DirConf { Index = _dir.Index, Fallback = _dir.Fallback, Slash = _dir.Slash, IndexRedirect = _dir.IndexRedirect };
            if (_redirects is not null) _s.Alias = new AliasConf { Redirects = _redirects };
            if (_mime is not null)
                _s.Mime = new MimeConf
                {
                    Extensions = _mime, DefaultLanguage = _defaultLanguage, Multimatch = _multimatch,
                    LanguagePriority = _langPriority, ForceLanguage = _forceLanguage,
                };
            if (_headers is not null) _s.Headers = new HeadersConf { Actions = _headers };
            if (_env is not null) _s.Env = new EnvConf { Vars = _env };
            if (_setEnvIf is not null) _s.SetEnvIf = new SetEnvIfConf { Entries = _setEnvIf };
            if (_expires) _s.Expires = new ExpiresConf { Active = _expiresActive, Default = _expiresDefault, ByType = _expiresByType ?? new(StringComparer.OrdinalIgnoreCase) };
            if (_auth) _s.Auth = new AuthConf { AuthType = _authType, AuthName = _authName, UserFile = _userFile, GroupFile = _groupFile };
            if (_authz is not null || _authMerging is not null)
                _s.Authz = new AuthzConf
                {
                    Section = _authz is null ? null : new AuthzNode.Container(AuthzNode.Kind.Any, false, _authz, "", 0),
                    Merging = _authMerging,
                };
            if (_access) _s.Access = new AccessSettings { Order = _order, Entries = _accessEntries ?? [], Satisfy = _satisfy };
            if (_php is not null) _s.Php = new PhpConf { Values = _php };
            if (_indexIgnore is not null) { _s.Autoindex = new AutoindexConf { Ignore = _indexIgnore }; _s.AutoindexReset = _indexReset; }
            if (_rewrite)
            {
                string? dir = scope.Path is null ? null : scope.Path.EndsWith('/') ? scope.Path : scope.Path + "/";
                _s.Rewrite = new RewriteConf
                {
                    Engine = _rwEngine, Options = _rwOptions, Directory = scope.Kind is ScopeKind.Server or ScopeKind.VirtualHost ? null : dir,
                    BaseUrl = _rwBase, BaseSet = _rwBase is not null,
                    // rules written in the vhost itself run in the translate phase (ServerRewrite), not per directory
                    Rules = scope.Kind is ScopeKind.Server or ScopeKind.VirtualHost ? [] : _rwRules ?? [],
                };
            }
            return _s;
        }
    }

    /// <summary>The vhost-level (translate phase) rewrite rules of a vhost's own directives.</summary>
    public static RewriteServerConf ServerRewrite(IReadOnlyList<DirectiveRecord> records)
    {
        bool engine = false;
        var options = RewriteOpt.None;
        var rules = new List<RewriteRuleEntry>();
        var conds = new List<RewriteCondition>();
        foreach (var d in records)
        {
            if (d.Is("RewriteEngine") && d.Args.Count == 1) engine = d.Args[0].Equals("on", StringComparison.OrdinalIgnoreCase);
            else if (d.Is("RewriteOptions"))
            {
                foreach (var w in d.Args)
                    if (w.Equals("inherit", StringComparison.OrdinalIgnoreCase)) options |= RewriteOpt.Inherit;
            }
            else if (d.Is("RewriteCond"))
            {
                try { conds.Add(RewriteParser.ParseCond(d.RawArgs ?? string.Join(' ', d.Args), Expr.Parse)); }
                catch (FormatException e) { throw new DirectiveException(d.File, d.Line, e.Message); }
            }
            else if (d.Is("RewriteRule"))
            {
                try { rules.Add(RewriteParser.ParseRule(d.RawArgs ?? string.Join(' ', d.Args), conds.ToList(), d.File, d.Line)); }
                catch (FormatException e) { throw new DirectiveException(d.File, d.Line, e.Message); }
                conds.Clear();
            }
        }
        return new RewriteServerConf { Engine = engine, Options = options, Rules = rules };
    }
}
