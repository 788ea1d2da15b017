namespace ItkPs.Core.Config;

/// <summary>
/// Reads an Apache-syntax configuration into a <see cref="ServerConfig"/>: follows
/// Include/IncludeOptional (with wildcards), evaluates &lt;IfModule&gt;, and reports every
/// problem with file and line. Unknown directives are warnings, never silently dropped.
/// </summary>
public sealed class ConfigReader
{
    /// <summary>
    /// Modules &lt;IfModule&gt; treats as loaded: what itkd implements, by module identifier and
    /// by source file name (Apache accepts both). LoadModule lines add to the set.
    /// </summary>
    public static readonly IReadOnlyList<string> BuiltInModules =
    [
        "mpm_itk_module", "mpm_itk.c", "itk.c",
        "core_module", "core.c", "http_module", "http_core.c", "so_module", "mod_so.c",
        "dir_module", "mod_dir.c", "mime_module", "mod_mime.c", "alias_module", "mod_alias.c",
        "log_config_module", "mod_log_config.c", "authz_core_module", "mod_authz_core.c",
        "reqtimeout_module", "mod_reqtimeout.c", "cgi_module", "mod_cgi.c", "cgid_module", "mod_cgid.c",
        "auth_basic_module", "mod_auth_basic.c", "authn_file_module", "mod_authn_file.c",
        "authn_core_module", "mod_authn_core.c", "authz_user_module", "mod_authz_user.c",
        "proxy_module", "mod_proxy.c", "proxy_fcgi_module", "mod_proxy_fcgi.c",
        "ssl_module", "mod_ssl.c", "http2_module", "mod_http2.c",
        "itkd_module", "itkd.c", // itkd itself: <IfModule itkd.c> holds what only itkd reads
        .. Htaccess.DirectiveTable.ProvidedModules,
    ];

    private static readonly HashSet<string> ServerOnly = new(StringComparer.OrdinalIgnoreCase)
    { "Listen", "User", "Group", "ServerRoot", "LoadModule", "LimitUIDRange", "LimitGIDRange", "RequestReadTimeout" };

    /// <summary>Directives read in a vhost or &lt;Directory&gt; and kept for the server to apply.</summary>
    private static readonly HashSet<string> Recorded = new(StringComparer.OrdinalIgnoreCase)
    { "Options", "AllowOverride", "Require", "ScriptAlias", "AddHandler", "SetHandler", "AuthType", "AuthName", "AuthUserFile",
      "LimitRequestLine", "LimitRequestFieldSize", "LimitRequestFields" };

    /// <summary>Directives of the request engine's table (mod_rewrite, mod_headers, php_value…), recorded wherever they may appear.</summary>
    private static bool IsPerRequest(string name) => Recorded.Contains(name)
        || (Htaccess.DirectiveTable.Find(name) is { } d && !Htaccess.DirectiveTable.ServerLevel.Contains(d.Section ? "<" + d.Name : d.Name, StringComparer.OrdinalIgnoreCase));

    private readonly HashSet<string> _modules;
    private readonly Stack<string> _including = new();
    private ServerConfig _config = null!;
    private string _baseDir = "/";

    public ConfigReader(IEnumerable<string>? loadedModules = null)
    {
        _modules = new HashSet<string>(loadedModules ?? BuiltInModules, StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>Reads a main configuration file and everything it includes.</summary>
    public ServerConfig Read(string mainFile)
    {
        mainFile = Path.GetFullPath(mainFile);
        _config = new ServerConfig { MainFile = mainFile };
        _baseDir = Path.GetDirectoryName(mainFile)!;
        if (!File.Exists(mainFile))
        {
            _config.Diagnostics.Add(ConfigDiagnostic.Error(mainFile, 0, $"Configuration file '{mainFile}' does not exist."));
            return _config;
        }
        ReadFile(mainFile, Scope.Server);
        foreach (var vh in _config.VirtualHosts)
        {
            vh.ConfigFile = mainFile;
            vh.User = vh.AssignedUser ?? _config.User;
            vh.Group = vh.AssignedGroup ?? _config.Group;
            if (vh.DirectoryIndex.Count == 0) vh.DirectoryIndex = _config.DirectoryIndex;
            InheritTls(vh);
        }
        Validate();
        return _config;
    }

    /// <summary>Reads vhost files alone (no main file), e.g. every file of a vhosts folder.</summary>
    public ServerConfig ReadFiles(string mainName, IEnumerable<string> files)
    {
        _config = new ServerConfig { MainFile = mainName };
        foreach (var f in files) { _baseDir = Path.GetDirectoryName(Path.GetFullPath(f))!; ReadFile(Path.GetFullPath(f), Scope.Server); }
        foreach (var vh in _config.VirtualHosts)
        {
            vh.ConfigFile = mainName;
            vh.User = vh.AssignedUser; vh.Group = vh.AssignedGroup;
            if (vh.DirectoryIndex.Count == 0) vh.DirectoryIndex = _config.DirectoryIndex;
            InheritTls(vh);
        }
        Validate();
        return _config;
    }

    /// <summary>What a vhost takes from the main server, as Apache merges server configs: SSL* policy and Protocols.</summary>
    private void InheritTls(VirtualHost vh)
    {
        vh.Tls.Inherit(_config.Tls);
        if (vh.Protocols.Count == 0 && _config.Protocols.Count > 0) { vh.Protocols = _config.Protocols; vh.ProtocolsDirective = _config.ProtocolsDirective; }
    }

    private sealed record Scope(VirtualHost? Vhost, DirectoryBlock? Directory)
    {
        public static readonly Scope Server = new(null, null);
        public string Name => Directory is not null ? $"<{Directory.Kind}>" : Vhost is not null ? "<VirtualHost>" : "server config";
    }

    private void ReadFile(string path, Scope scope)
    {
        if (_including.Contains(path))
        {
            Add(DiagnosticSeverity.Error, path, 0, $"'{path}' includes itself (through {string.Join(" -> ", _including.Reverse())}).");
            return;
        }
        ConfigDocument doc;
        try { doc = ConfigDocument.Load(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Add(DiagnosticSeverity.Error, path, 0, $"Cannot read '{path}': {e.Message}");
            return;
        }
        _config.Files.Add(path);
        _config.Diagnostics.AddRange(doc.Errors);
        _including.Push(path);
        Walk(doc.Roots, scope);
        _including.Pop();
    }

    private void Add(DiagnosticSeverity s, string file, int line, string message) =>
        _config.Diagnostics.Add(new ConfigDiagnostic(s, file, line, message));

    private void Walk(IEnumerable<ConfigNode> nodes, Scope scope)
    {
        foreach (var n in nodes) Apply(n, scope);
    }

    private void Apply(ConfigNode n, Scope scope)
    {
        void Error(string m) => Add(DiagnosticSeverity.Error, n.File, n.Line, m);
        void Warn(string m) => Add(DiagnosticSeverity.Warning, n.File, n.Line, m);
        bool Count(int min, int max, string what)
        {
            if (n.Args.Count >= min && n.Args.Count <= max) return true;
            Error($"{n.Name} takes {what}; found {n.Args.Count} argument(s).");
            return false;
        }
        var record = new DirectiveRecord(n.Name, n.Args, n.File, n.Line) { RawArgs = RawArgs(n) };
        var vh = scope.Vhost;
        if (vh is not null && scope.Directory is null && !n.IsSection) vh.Given[n.Name] = record;

        if (ServerOnly.Contains(n.Name) && scope != Scope.Server)
        {
            Error($"{n.Name} is not allowed in {scope.Name}; move it to the main server configuration.");
            return;
        }

        switch (n.Name.ToLowerInvariant())
        {
            case "ifmodule":
                if (!Count(1, 1, "one module name")) return;
                string module = n.Args[0];
                bool negate = module.StartsWith('!');
                if (negate) module = module[1..];
                if (_modules.Contains(module) != negate) Walk(n.Children, scope);
                return;

            case "include":
            case "includeoptional":
                if (!Count(1, 1, "one path or wildcard")) return;
                Include(n, scope, optional: n.Is("IncludeOptional"));
                return;

            case "virtualhost":
                if (vh is not null) { Error("<VirtualHost> cannot be nested in another <VirtualHost>."); return; }
                if (!Count(1, int.MaxValue, "one or more addresses")) return;
                var addresses = new List<HostAddress>();
                foreach (var a in n.Args)
                {
                    if (HostAddress.TryParse(a, false, out var addr, out var err)) addresses.Add(addr!);
                    else Error($"<VirtualHost> address {err}");
                }
                var newVh = new VirtualHost { Addresses = addresses, File = n.File, Line = n.Line };
                _config.VirtualHosts.Add(newVh);
                Walk(n.Children, new Scope(newVh, null));
                return;

            case "directory":
            case "directorymatch":
            case "files":
            case "filesmatch":
            case "location":
            case "locationmatch":
            {
                var kind = n.Name.StartsWith("Dir", StringComparison.OrdinalIgnoreCase) ? SectionKind.Directory
                    : n.Name.StartsWith("Files", StringComparison.OrdinalIgnoreCase) ? SectionKind.Files : SectionKind.Location;
                bool regex = n.Name.EndsWith("Match", StringComparison.OrdinalIgnoreCase) || (n.Args.Count == 2 && n.Args[0] == "~");
                if (regex && n.Args.Count == 2 && n.Args[0] == "~") { if (!Count(2, 2, "'~' and one regular expression")) return; }
                else if (!Count(1, 1, regex ? "one regular expression" : "one path")) return;
                string pattern = n.Args[^1];
                if (regex)
                {
                    try { _ = new System.Text.RegularExpressions.Regex(pattern); }
                    catch (ArgumentException e) { Error($"<{n.Name}> '{pattern}' is not a regular expression: {e.Message}"); return; }
                }
                var parent = scope.Directory;
                if (parent is not null && (kind != SectionKind.Files || parent.Kind != SectionKind.Directory))
                {
                    Error($"<{n.Name}> cannot be nested in <{parent.Kind}>{(kind == SectionKind.Files ? "" : "; only <Files> and <FilesMatch> go inside <Directory>")}.");
                    return;
                }
                var dir = new DirectoryBlock { Kind = kind, IsRegex = regex, Path = pattern, File = n.File, Line = n.Line };
                if (parent is not null) parent.Nested.Add(dir);
                else (vh?.Directories ?? _config.Directories).Add(dir);
                Walk(n.Children, new Scope(vh, dir));
                return;
            }

            case "timeout":
            case "cgiscripttimeout":
                if (!Count(1, 1, "a number of seconds")) return;
                if (scope.Directory is not null) { Error($"{n.Name} is not allowed in <{scope.Directory.Kind}>."); return; }
                if (!int.TryParse(n.Args[0].TrimEnd('s'), out int timeout) || timeout < 1) { Error($"{n.Name} '{n.Args[0]}' is not a number of seconds."); return; }
                if (vh is not null) vh.TimeoutSeconds = timeout; else _config.TimeoutSeconds = timeout;
                return;

            case "listen":
                if (!Count(1, 2, "an [address:]port and an optional protocol")) return;
                if (HostAddress.TryParse(n.Args[0], true, out var listen, out var lerr))
                {
                    if (listen!.Port is null) Error($"Listen {n.Args[0]} has no port.");
                    else
                    {
                        _config.Listens.Add((listen, n.File, n.Line));
                        if (n.Args.Count == 2)
                        {
                            string protocol = n.Args[1].ToLowerInvariant();
                            if (protocol is not ("http" or "https"))
                                Warn($"Listen {n.Args[0]} {n.Args[1]}: itkd knows the protocols http and https; this port is served as {(listen.Port == 443 ? "https" : "http")}.");
                            else _config.ListenProtocols[listen] = protocol;
                        }
                    }
                }
                else Error($"Listen {lerr}");
                return;

            case "user":
                if (!Count(1, 1, "one user name")) return;
                _config.User = n.Args[0]; _config.UserDirective = record;
                return;
            case "group":
                if (!Count(1, 1, "one group name")) return;
                _config.Group = n.Args[0]; _config.GroupDirective = record;
                return;
            case "serverroot":
                if (!Count(1, 1, "one directory")) return;
                _config.ServerRoot = n.Args[0]; _baseDir = n.Args[0];
                return;
            case "loadmodule":
                if (!Count(2, 2, "a module identifier and a file")) return;
                _modules.Add(n.Args[0]);
                _modules.Add(Path.GetFileNameWithoutExtension(n.Args[1]) + ".c");
                return;
            case "limituidrange":
            case "limitgidrange":
                if (!Count(2, 2, "a minimum and a maximum id")) return;
                if (!long.TryParse(n.Args[0], out long min) || !long.TryParse(n.Args[1], out long max) || min < 0 || max < min)
                {
                    Error($"{n.Name} needs two ids, minimum then maximum (e.g. {n.Name} 1000 59999).");
                    return;
                }
                if (n.Is("LimitUIDRange")) { _config.UidRange = (min, max); _config.UidRangeDirective = record; }
                else { _config.GidRange = (min, max); _config.GidRangeDirective = record; }
                return;

            case "requestreadtimeout":
                // mod_reqtimeout: "header=20-40,MinRate=500 body=..."; itkd uses the header's first number.
                foreach (var a in n.Args.Where(a => a.StartsWith("header=", StringComparison.OrdinalIgnoreCase)))
                {
                    string v = a["header=".Length..].Split(',', '-')[0];
                    if (int.TryParse(v, out int seconds) && seconds >= 0) _config.HeaderTimeoutSeconds = seconds;
                    else Error($"RequestReadTimeout '{a}': header= needs seconds, e.g. header=20-40.");
                }
                return;
            case "keepalivetimeout":
                // Apache's: how long a kept-alive connection may sit between requests (default 5 s).
                if (!Count(1, 1, "one number of seconds")) return;
                if (!int.TryParse(n.Args[0], out int keep) || keep < 1) { Error($"KeepAliveTimeout '{n.Args[0]}' is not a number of seconds (1 or more)."); return; }
                if (vh is not null) Warn("KeepAliveTimeout in a <VirtualHost>: itkd applies the server's to every vhost.");
                else _config.KeepAliveTimeoutSeconds = keep;
                return;
            case "servername":
                if (!Count(1, 1, "one host name")) return;
                string name = StripSchemeAndPort(n.Args[0]);
                if (vh is not null) vh.Name = name; else _config.ServerName = name;
                return;
            case "serveralias":
                if (vh is null) { Error("ServerAlias is only allowed in <VirtualHost>."); return; }
                if (!Count(1, int.MaxValue, "one or more host names")) return;
                vh.Aliases.AddRange(n.Args);
                return;
            case "documentroot":
                if (!Count(1, 1, "one directory")) return;
                if (scope.Directory is not null) { Error("DocumentRoot is not allowed in <Directory>."); return; }
                if (vh is not null) vh.DocumentRoot = n.Args[0]; else _config.DocumentRoot = n.Args[0];
                return;
            case "directoryindex":
                if (!Count(1, int.MaxValue, "one or more file names")) return;
                if (scope.Directory is not null) scope.Directory.Directives.Add(record);
                else if (vh is not null) vh.DirectoryIndex = n.Args.ToList();
                else _config.DirectoryIndex = n.Args.ToList();
                return;
            case "errorlog":
                if (!Count(1, 1, "one file")) return;
                if (vh is not null) vh.ErrorLog = n.Args[0]; else _config.ErrorLog = n.Args[0];
                return;
            case "customlog":
                if (vh is null) { Warn("CustomLog outside <VirtualHost> is ignored by itkd; give each vhost its own."); return; }
                if (!Count(1, 3, "a file and a format")) return;
                vh.CustomLog = n.Args[0];
                vh.CustomLogFormat = n.Args.Count > 1 ? n.Args[1] : "combined";
                return;

            case "assignuserid":
                if (!Count(2, 2, "two arguments, a user and a group")) return;
                if (vh is null || scope.Directory is not null) { Error("AssignUserID belongs in <VirtualHost> (the server itself runs as User/Group)."); return; }
                vh.AssignedUser = n.Args[0]; vh.AssignedGroup = n.Args[1];
                return;
            case "assignuseridexpr":
                if (!Count(1, 1, "one expression")) return;
                if (vh is null) { Error("AssignUserIDExpr belongs in <VirtualHost>."); return; }
                vh.AssignUserIdExpr = n.Args[0];
                Warn("AssignUserIDExpr is evaluated per request by Apache; itkd only uses AssignUserID.");
                return;
            case "maxclientsvhost":
                if (!Count(1, 1, "one number")) return;
                if (vh is null) { Error("MaxClientsVHost belongs in <VirtualHost>."); return; }
                if (!int.TryParse(n.Args[0], out int mc)) { Error($"MaxClientsVHost '{n.Args[0]}' is not a number."); return; }
                vh.MaxClients = mc;
                return;
            case "nicevalue":
                if (!Count(1, 1, "one number from -20 to 19")) return;
                if (vh is null) { Error("NiceValue belongs in <VirtualHost>."); return; }
                if (!int.TryParse(n.Args[0], out int nice)) { Error($"NiceValue '{n.Args[0]}' is not a number."); return; }
                vh.Nice = nice;
                return;
            case "itkdidletimeout":
                // itkd's own: how long a worker may sit without connections (Apache has no such thing;
                // wrap it in <IfModule itkd.c> so Apache skips it).
                if (!Count(1, 1, "one number of seconds")) return;
                if (!int.TryParse(n.Args[0], out int idle) || idle < 1) { Error($"ItkdIdleTimeout '{n.Args[0]}' is not a number of seconds (1 or more)."); return; }
                if (scope.Directory is not null) { Error("ItkdIdleTimeout belongs in <VirtualHost> or outside any section."); return; }
                if (vh is not null) vh.IdleTimeoutSeconds = idle; else _config.IdleTimeoutSeconds = idle;
                return;
        }

        if (n.IsSection && Htaccess.DirectiveTable.Find(n.Name) is { Section: true })
        {
            // <If>, <RequireAll|Any|None>, <Limit>: kept with their directives for the request engine
            var section = record with { Children = Children(n.Children) };
            if (scope.Directory is not null) scope.Directory.Directives.Add(section);
            else if (vh is not null) vh.Directives.Add(section);
            else _config.Directives.Add(section);
            return;
        }

        if (IsPerRequest(n.Name) && !n.IsSection)
        {
            if (!CheckRecorded(n, Warn, Error)) return;
            if (scope.Directory is null && (n.Is("Require") || n.Name.StartsWith("Auth", StringComparison.OrdinalIgnoreCase)))
                Warn($"{n.Name} outside <Directory>/<Location>: itkd applies it to the whole {(vh is null ? "server" : "vhost")}, but Apache refuses it here; wrap it in <Location \"/\">.");
            if (scope.Directory is not null) scope.Directory.Directives.Add(record);
            else if (vh is not null) vh.Directives.Add(record);
            else _config.Directives.Add(record); // inherited by every vhost, as in Apache
            return;
        }

        if (n.Name.StartsWith("SSL", StringComparison.OrdinalIgnoreCase) || n.Is("Protocols") || n.Is("ProtocolsHonorOrder"))
        {
            if (scope.Directory is not null) { Error($"{n.Name} is not allowed in <{scope.Directory.Kind}>; it belongs in <VirtualHost> or the main server."); return; }
            TlsDirective(n, record, vh, Warn, Error);
        }
        else if (n.IsSection)
            Warn($"Unknown section <{n.Name}>: ignored together with its {n.Children.Count} directive(s).");
        else
            Warn($"Unknown directive '{n.Name}': ignored.");
    }

    /// <summary>mod_ssl's directives and Protocols: kept per vhost (or for the main server, to inherit), or said why not.</summary>
    private void TlsDirective(ConfigNode n, DirectiveRecord record, VirtualHost? vh, Action<string> warn, Action<string> error)
    {
        var tls = vh?.Tls ?? _config.Tls;
        var a = n.Args;
        bool? Flag()
        {
            if (a.Count == 1 && a[0].Equals("on", StringComparison.OrdinalIgnoreCase)) return true;
            if (a.Count == 1 && a[0].Equals("off", StringComparison.OrdinalIgnoreCase)) return false;
            error($"{n.Name} takes on or off.");
            return null;
        }
        string? OnePath()
        {
            if (a.Count != 1) { error($"{n.Name} takes one file."); return null; }
            if (vh is null)
            {
                warn($"{n.Name} outside <VirtualHost>: itkd gives each vhost its own certificate and key (each is read by that vhost's user); ignored here.");
                return null;
            }
            return Path.IsPathRooted(a[0]) ? a[0] : Path.GetFullPath(Path.Combine(_config.ServerRoot ?? _baseDir, a[0]));
        }
        switch (n.Name.ToLowerInvariant())
        {
            case "sslengine":
                if (a.Count != 1 || !(a[0].Equals("on", StringComparison.OrdinalIgnoreCase) || a[0].Equals("off", StringComparison.OrdinalIgnoreCase) || a[0].Equals("optional", StringComparison.OrdinalIgnoreCase)))
                {
                    error("SSLEngine takes on, off or optional.");
                    return;
                }
                if (a[0].Equals("optional", StringComparison.OrdinalIgnoreCase)) { warn("SSLEngine optional (TLS upgrade, RFC 2817) is not supported by itkd; the vhost is served in the clear."); return; }
                bool engine = a[0].Equals("on", StringComparison.OrdinalIgnoreCase);
                if (vh is null) { if (engine) warn("SSLEngine on outside <VirtualHost>: itkd serves TLS per vhost; put it in each <VirtualHost> with its certificate."); return; }
                tls.Engine = engine; tls.EngineDirective = record;
                return;
            case "sslcertificatefile":
                if (OnePath() is not { } cert) return;
                if (tls.CertificateFile is not null) { warn($"a second SSLCertificateFile (the first is at {tls.CertificateDirective!.File}:{tls.CertificateDirective.Line}): itkd serves one certificate per vhost, the first; this one is ignored."); return; }
                tls.CertificateFile = cert; tls.CertificateDirective = record;
                return;
            case "sslcertificatekeyfile":
                if (OnePath() is not { } key) return;
                if (tls.KeyFile is not null) { warn($"a second SSLCertificateKeyFile (the first is at {tls.KeyDirective!.File}:{tls.KeyDirective.Line}): itkd serves one key per vhost, the first; this one is ignored."); return; }
                tls.KeyFile = key; tls.KeyDirective = record;
                return;
            case "sslcertificatechainfile":
                if (OnePath() is not { } chain) return;
                tls.ChainFile = chain; tls.ChainDirective = record;
                return;
            case "sslprotocol":
                if (a.Count == 0) { error("SSLProtocol needs protocols, e.g. SSLProtocol -all +TLSv1.2 +TLSv1.3."); return; }
                tls.Protocol = a.ToList(); tls.ProtocolDirective = record;
                return;
            case "sslciphersuite":
                if (a.Count is < 1 or > 2) { error("SSLCipherSuite takes an optional protocol (SSL or TLSv1.3) and a cipher list."); return; }
                if (a.Count == 2 && a[0].Equals("TLSv1.3", StringComparison.OrdinalIgnoreCase)) { tls.CipherSuiteTls13 = a[1]; tls.CipherSuiteTls13Directive = record; }
                else if (a.Count == 2 && !a[0].Equals("SSL", StringComparison.OrdinalIgnoreCase)) error($"SSLCipherSuite {a[0]}: the protocol is SSL (TLS 1.2 and older) or TLSv1.3.");
                else { tls.CipherSuite = a[^1]; tls.CipherSuiteDirective = record; }
                return;
            case "sslstrictsnivhostcheck":
                if (Flag() is bool strict) tls.StrictSni = strict;
                return;
            case "sslsessiontickets":
                if (Flag() is not bool tickets) return;
                tls.SessionTickets = tickets;
                if (!tickets) warn("SSLSessionTickets off: .NET can only turn resumption off as a whole, so session-id resumption is off for this vhost too.");
                return;
            case "sslverifyclient":
                if (a.Count == 1 && a[0].Equals("none", StringComparison.OrdinalIgnoreCase)) return;
                error($"SSLVerifyClient {string.Join(' ', a)}: itkd does not ask for client certificates, and serving without the check would let anyone in; remove it or serve this vhost with Apache.");
                return;
            case "sslhonorcipherorder":
                warn("SSLHonorCipherOrder: itkd leaves the order of cipher suites to OpenSSL as .NET configures it; ignored.");
                return;
            case "sslsessioncache":
            case "sslsessioncachetimeout":
            case "sslrandomseed":
            case "sslpassphrasedialog":
            case "sslstaplingcache":
            case "sslmutex":
            case "sslcryptodevice":
                warn($"{n.Name}: not needed by itkd (each user's worker keeps its own TLS sessions, and keys cannot have pass phrases); ignored.");
                return;
            case "protocols":
                if (a.Count == 0) { error("Protocols needs one or more of h2, h2c, http/1.1."); return; }
                var known = new List<string>();
                foreach (var p in a.Select(p => p.ToLowerInvariant()))
                {
                    if (HttpProtocolNames.Known.Contains(p)) { if (!known.Contains(p)) known.Add(p); }
                    else warn($"Protocols {p}: itkd speaks h2, h2c and http/1.1; {p} is ignored.");
                }
                if (known.Count == 0) { error("Protocols names none of h2, h2c, http/1.1: the vhost could not speak at all."); return; }
                if (vh is not null) { vh.Protocols = known; vh.ProtocolsDirective = record; }
                else { _config.Protocols = known; _config.ProtocolsDirective = record; }
                return;
            case "protocolshonororder":
                if (Flag() == false) warn("ProtocolsHonorOrder off: itkd always prefers the order of Protocols; ignored.");
                return;
            default:
                warn($"{n.Name}: not supported by itkd; ignored.");
                return;
        }
    }

    private static string RawArgs(ConfigNode n) => n.Start.Text.Length > n.Name.Length ? n.Start.Text[n.Name.Length..].Trim() : "";

    /// <summary>A section's directives as records, &lt;IfModule&gt; inside decided with the loaded modules.</summary>
    private List<DirectiveRecord> Children(IEnumerable<ConfigNode> nodes)
    {
        var list = new List<DirectiveRecord>();
        foreach (var c in nodes)
        {
            if (c.IsSection && c.Is("IfModule") && c.Args.Count == 1)
            {
                string m = c.Args[0];
                bool neg = m.StartsWith('!');
                if (_modules.Contains(neg ? m[1..] : m) != neg) list.AddRange(Children(c.Children));
                continue;
            }
            list.Add(new DirectiveRecord(c.Name, c.Args, c.File, c.Line) { RawArgs = RawArgs(c), Children = c.IsSection ? Children(c.Children) : null });
        }
        return list;
    }

    /// <summary>
    /// Compiles every vhost as a worker will (the request engine's sections), so that a directive
    /// itkd cannot carry out as written is an error with file:line at start-up, not a 500 later.
    /// </summary>
    private void Validate()
    {
        foreach (var vh in _config.VirtualHosts)
        {
            try { Htaccess.VhostRuntime.Compile(vh, _config.Directives, _config.Directories); }
            catch (Htaccess.DirectiveException e) { Add(DiagnosticSeverity.Error, e.File, e.Line, e.Message); }
        }
    }

    /// <summary>What itkd does not do with a per-request directive, said at start-up rather than found out later.</summary>
    private static bool CheckRecorded(ConfigNode n, Action<string> warn, Action<string> error)
    {
        var a = n.Args;
        switch (n.Name.ToLowerInvariant())
        {
            case "sethandler":
            case "addhandler":
                if (a.Count < (n.Is("SetHandler") ? 1 : 2)) { error($"{n.Name} needs {(n.Is("SetHandler") ? "a handler name" : "a handler name and one or more extensions")}."); return false; }
                if (!Hosting.RequestPolicy.IsKnownHandler(a[0]))
                    warn($"{n.Name} {a[0]}: itkd runs cgi-script, application/x-httpd-php and proxy:unix:…|fcgi://…; files with this handler are served as they are.");
                return true;
            case "scriptalias":
                if (a.Count != 2) { error("ScriptAlias takes a URL path and a directory."); return false; }
                return true;
            case "authtype":
                if (a.Count != 1) { error("AuthType takes one name (Basic)."); return false; }
                if (!a[0].Equals("Basic", StringComparison.OrdinalIgnoreCase) && !a[0].Equals("None", StringComparison.OrdinalIgnoreCase))
                    warn($"AuthType {a[0]}: itkd supports Basic only; a Require that needs a user will answer 500.");
                return true;
            case "require":
                if (a.Count == 0) { error("Require needs an entity: all granted|denied, valid-user, user NAME…, ip ADDRESS…, env VAR…, expr …"); return false; }
                if (a[0].Equals("host", StringComparison.OrdinalIgnoreCase) || a[0].Equals("forward-dns", StringComparison.OrdinalIgnoreCase))
                    warn($"Require {string.Join(' ', a)}: itkd does no DNS lookups; this line never grants access.");
                return true;
        }
        return true;
    }

    private void Include(ConfigNode n, Scope scope, bool optional)
    {
        string pattern = n.Args[0];
        if (!Path.IsPathRooted(pattern)) pattern = Path.Combine(_baseDir, pattern);
        var files = Glob.Expand(pattern);
        bool wildcard = Glob.HasWildcard(pattern);
        if (files.Count == 0)
        {
            if (optional) return;
            Add(DiagnosticSeverity.Error, n.File, n.Line, wildcard
                ? $"Include '{n.Args[0]}' matches no file (use IncludeOptional if that is expected)."
                : $"Include '{n.Args[0]}': file not found ('{pattern}').");
            return;
        }
        foreach (var f in files) ReadFile(f, scope);
    }

    /// <summary>"http://www.example.com:8080" → "www.example.com", as Apache reads ServerName.</summary>
    public static string StripSchemeAndPort(string serverName)
    {
        string s = serverName;
        int scheme = s.IndexOf("://", StringComparison.Ordinal);
        if (scheme >= 0) s = s[(scheme + 3)..];
        return VhostSelector.NormalizeHost(s);
    }
}

/// <summary>
/// Wildcard expansion for Include paths (Apache sorts the matches). Hand-written because
/// Microsoft.Extensions.FileSystemGlobbing does not follow Apache's rules for directories
/// given without a wildcard (they include every file inside).
/// </summary>
public static class Glob
{
    public static bool HasWildcard(string path) => path.IndexOfAny(['*', '?']) >= 0;

    public static List<string> Expand(string pattern)
    {
        if (!HasWildcard(pattern))
        {
            if (Directory.Exists(pattern))
                return Directory.EnumerateFiles(pattern, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();
            return File.Exists(pattern) ? [pattern] : [];
        }
        var parts = pattern.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var current = new List<string> { "/" };
        for (int i = 0; i < parts.Length; i++)
        {
            bool last = i == parts.Length - 1;
            var next = new List<string>();
            foreach (var dir in current)
            {
                if (!HasWildcard(parts[i])) { next.Add(Path.Combine(dir, parts[i])); continue; }
                if (!Directory.Exists(dir)) continue;
                var entries = last ? Directory.EnumerateFiles(dir, parts[i]) : Directory.EnumerateDirectories(dir, parts[i]);
                // Apache skips dot files when expanding a wildcard; so do we.
                next.AddRange(entries.Where(e => !Path.GetFileName(e).StartsWith('.')).Order(StringComparer.Ordinal));
            }
            current = next;
        }
        return current.Where(File.Exists).ToList();
    }
}
