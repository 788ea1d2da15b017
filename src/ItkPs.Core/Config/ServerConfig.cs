using System.Net;
using System.Text.Json.Serialization;

namespace ItkPs.Core.Config;

/// <summary>
/// An address of a &lt;VirtualHost&gt; or a Listen line. <see cref="Host"/> is "*" for any address
/// (Apache's "*" and "_default_"); <see cref="Port"/> is null for any port.
/// </summary>
public sealed record HostAddress(string Host, int? Port)
{
    [JsonIgnore] public bool AnyHost => Host == "*";
    [JsonIgnore] public IPAddress? Ip => AnyHost ? null : IPAddress.TryParse(Host, out var ip) ? ip : null;

    /// <summary>Parses "*:80", "_default_:443", "127.0.0.1:8080", "[::1]:80", "10.0.0.1", "80" (Listen form).</summary>
    public static bool TryParse(string text, bool portOnlyAllowed, out HostAddress? address, out string? error)
    {
        address = null; error = null;
        string host; string? port = null;
        if (text.StartsWith('['))
        {
            int close = text.IndexOf(']');
            if (close < 0) { error = $"'{text}' has '[' without ']'."; return false; }
            host = text[1..close];
            if (close + 1 < text.Length)
            {
                if (text[close + 1] != ':') { error = $"'{text}' has text after ']' that is not ':port'."; return false; }
                port = text[(close + 2)..];
            }
        }
        else
        {
            int colon = text.LastIndexOf(':');
            if (colon >= 0 && text.IndexOf(':') == colon) { host = text[..colon]; port = text[(colon + 1)..]; }
            else host = text; // no colon, or an unbracketed IPv6 literal
        }
        if (portOnlyAllowed && port is null && host.All(char.IsAsciiDigit)) { port = host; host = "*"; }
        if (host is "_default_" or "*" or "") host = "*";
        else if (IPAddress.TryParse(host, out var ip)) host = ip.ToString();
        else if (string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase)) host = "127.0.0.1";
        else { error = $"'{text}': '{host}' is not an IP address, '*' or '_default_' (give the address, as Apache advises)."; return false; }

        int? p = null;
        if (port is not null && port != "*")
        {
            if (!int.TryParse(port, out int n) || n < 1 || n > 65535) { error = $"'{text}': '{port}' is not a port number (1-65535)."; return false; }
            p = n;
        }
        address = new HostAddress(host, p);
        return true;
    }

    public override string ToString()
    {
        string h = Host.Contains(':') ? $"[{Host}]" : Host;
        return Port is int p ? $"{h}:{p}" : h;
    }
}

/// <summary>
/// A directive kept as written, with where it was written. A section (&lt;If&gt;, &lt;RequireAll&gt;,
/// &lt;Limit&gt;…) keeps its directives in <see cref="Children"/>; <see cref="RawArgs"/> is the argument
/// text as written, for the directives that split it their own way (RewriteRule, ap_expr).
/// </summary>
public sealed record DirectiveRecord(string Name, IReadOnlyList<string> Args, string File, int Line)
{
    public string? RawArgs { get; init; }
    public IReadOnlyList<DirectiveRecord>? Children { get; init; }
    public bool Is(string name) => string.Equals(Name, name, StringComparison.OrdinalIgnoreCase);
}

/// <summary>What a per-request section matches on.</summary>
public enum SectionKind { Directory, Files, Location }

/// <summary>
/// A &lt;Directory&gt;, &lt;Files&gt; or &lt;Location&gt; block (the *Match forms and "~" set
/// <see cref="IsRegex"/>). A &lt;Directory&gt; may hold &lt;Files&gt; blocks in <see cref="Nested"/>.
/// </summary>
public sealed class DirectoryBlock
{
    public SectionKind Kind { get; init; } = SectionKind.Directory;
    public bool IsRegex { get; init; }
    public required string Path { get; init; }
    public required string File { get; init; }
    public int Line { get; init; }
    public List<DirectiveRecord> Directives { get; init; } = new();
    public List<DirectoryBlock> Nested { get; init; } = new();
}

/// <summary>
/// One &lt;VirtualHost&gt; as read from the configuration. <see cref="User"/> and
/// <see cref="Group"/> are what its requests run as: AssignUserID, falling back to the
/// server's User/Group as mpm-itk does.
/// </summary>
public sealed class VirtualHost
{
    public required IReadOnlyList<HostAddress> Addresses { get; init; }
    public required string File { get; init; }
    public int Line { get; init; }

    /// <summary>The ServerName, without scheme or port; empty when the vhost has none.</summary>
    public string Name { get; set; } = "";
    public List<string> Aliases { get; init; } = new();
    public string? DocumentRoot { get; set; }
    public string? AssignedUser { get; set; }
    public string? AssignedGroup { get; set; }
    public string? AssignUserIdExpr { get; set; }
    public int? MaxClients { get; set; }
    public int? Nice { get; set; }
    public List<string> DirectoryIndex { get; set; } = new();
    public string? ErrorLog { get; set; }
    public string? CustomLog { get; set; }
    public string? CustomLogFormat { get; set; }
    /// <summary>&lt;Directory&gt;, &lt;Files&gt; and &lt;Location&gt; blocks of this vhost, in file order.</summary>
    public List<DirectoryBlock> Directories { get; init; } = new();
    public List<DirectiveRecord> Directives { get; init; } = new();
    /// <summary>ItkdIdleTimeout of this vhost: seconds its user's worker may sit without connections.</summary>
    public int? IdleTimeoutSeconds { get; set; }
    /// <summary>Timeout / CGIScriptTimeout of this vhost, when it sets one.</summary>
    public int? TimeoutSeconds { get; set; }

    /// <summary>mod_ssl's directives of this vhost (the main server's inherited); <see cref="TlsSettings.Engine"/> is SSLEngine on.</summary>
    public TlsSettings Tls { get; set; } = new();

    /// <summary>The Protocols directive of this vhost (or the main server's), lower case, in order; empty when neither says.</summary>
    public List<string> Protocols { get; set; } = new();
    [JsonIgnore] public DirectiveRecord? ProtocolsDirective { get; set; }

    /// <summary>What the vhost speaks: its Protocols, else the default for TLS or cleartext.</summary>
    [JsonIgnore] public IReadOnlyList<string> EffectiveProtocols => Protocols.Count > 0 ? Protocols : HttpProtocolNames.Default(Tls.Engine);

    /// <summary>The main configuration file this vhost was read through.</summary>
    public string? ConfigFile { get; set; }

    /// <summary>Fallbacks from the main server, filled in once the whole file is read.</summary>
    public string? User { get; set; }
    public string? Group { get; set; }

    [JsonIgnore] public string Listen => string.Join(' ', Addresses);

    /// <summary>"FastCgi" when .php files have PHP's handler (SetHandler in a &lt;Files*&gt; block or AddHandler), else "Off".</summary>
    [JsonIgnore]
    public string Php =>
        Directories.Concat(Directories.SelectMany(d => d.Nested)).Any(d => d.Kind == SectionKind.Files && d.Directives.Any(IsPhpHandler))
        || Directives.Any(d => d.Name.Equals("AddHandler", StringComparison.OrdinalIgnoreCase) && d.Args.Count > 1 && d.Args[0].StartsWith("application/x-httpd-php", StringComparison.OrdinalIgnoreCase))
            ? "FastCgi" : "Off";

    /// <summary>True when the vhost runs CGI programs: a ScriptAlias, or Options ExecCGI with a cgi-script handler.</summary>
    [JsonIgnore]
    public bool Cgi =>
        Directives.Any(d => d.Name.Equals("ScriptAlias", StringComparison.OrdinalIgnoreCase))
        || (Directives.Concat(Directories.SelectMany(d => d.Directives)).Any(d => d.Name.Equals("Options", StringComparison.OrdinalIgnoreCase) && d.Args.Any(a => a.TrimStart('+').Equals("ExecCGI", StringComparison.OrdinalIgnoreCase) || a.Equals("All", StringComparison.OrdinalIgnoreCase)))
            && Directives.Concat(Directories.SelectMany(d => d.Directives)).Any(d => d.Args.Count > 0 && d.Args[0].Equals("cgi-script", StringComparison.OrdinalIgnoreCase)));

    private static bool IsPhpHandler(DirectiveRecord d) =>
        d.Name.Equals("SetHandler", StringComparison.OrdinalIgnoreCase) && d.Args.Count == 1
        && (d.Args[0].StartsWith("application/x-httpd-php", StringComparison.OrdinalIgnoreCase) && !d.Args[0].EndsWith("-source", StringComparison.OrdinalIgnoreCase)
            || d.Args[0].StartsWith("proxy:unix:", StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// Where each directive of the vhost itself (not of its sections) was last given, so a
    /// finding about AssignUserID or NiceValue names that line rather than the &lt;VirtualHost&gt;.
    /// </summary>
    [JsonIgnore] public Dictionary<string, DirectiveRecord> Given { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The line that set a directive of this vhost, else the &lt;VirtualHost&gt; line.</summary>
    public (string File, int Line) Where(string directive) =>
        Given.TryGetValue(directive, out var d) ? (d.File, d.Line) : (File, Line);

    public DirectiveRecord? Find(string name) =>
        Directives.LastOrDefault(d => string.Equals(d.Name, name, StringComparison.OrdinalIgnoreCase));

    public override string ToString() => $"{(Name.Length > 0 ? Name : "(no ServerName)")} {Listen} ({File}:{Line})";
}

/// <summary>The evaluated configuration: main-server settings, vhosts in order, and findings.</summary>
public sealed class ServerConfig
{
    public required string MainFile { get; init; }
    public string? ServerRoot { get; set; }
    public List<(HostAddress Address, string File, int Line)> Listens { get; } = new();
    /// <summary>The protocol argument of a Listen ("https" in "Listen 127.0.0.1:8443 https"), lower case, when one was given.</summary>
    public Dictionary<HostAddress, string> ListenProtocols { get; } = new();
    public string? User { get; set; }
    public string? Group { get; set; }
    public DirectiveRecord? UserDirective { get; set; }
    public DirectiveRecord? GroupDirective { get; set; }
    public string? ServerName { get; set; }
    public string? DocumentRoot { get; set; }
    public List<string> DirectoryIndex { get; set; } = new() { "index.html" };
    public string? ErrorLog { get; set; }
    /// <summary>mod_reqtimeout's header timeout: how long a client may take to send its request head (0: the server's default).</summary>
    public int HeaderTimeoutSeconds { get; set; }
    public (long Min, long Max) UidRange { get; set; } = (1, uint.MaxValue - 1L);
    public (long Min, long Max) GidRange { get; set; } = (1, uint.MaxValue - 1L);
    public DirectiveRecord? UidRangeDirective { get; set; }
    public DirectiveRecord? GidRangeDirective { get; set; }
    public List<VirtualHost> VirtualHosts { get; } = new();
    /// <summary>Per-request directives outside any vhost (Options, AddHandler, ScriptAlias…); every vhost inherits them.</summary>
    public List<DirectiveRecord> Directives { get; } = new();
    /// <summary>Server-level &lt;Directory&gt;, &lt;Files&gt; and &lt;Location&gt; blocks; they apply to every vhost.</summary>
    public List<DirectoryBlock> Directories { get; } = new();
    /// <summary>Timeout (and CGIScriptTimeout): how long a CGI or FastCGI script may stay silent.</summary>
    public int TimeoutSeconds { get; set; } = 60;
    /// <summary>SSL* directives of the main server: what every vhost inherits.</summary>
    public TlsSettings Tls { get; } = new();
    /// <summary>The main server's Protocols, inherited by vhosts without their own.</summary>
    public List<string> Protocols { get; set; } = new();
    public DirectiveRecord? ProtocolsDirective { get; set; }
    /// <summary>KeepAliveTimeout: how long a kept-alive connection may sit between requests.</summary>
    public int KeepAliveTimeoutSeconds { get; set; } = 5;
    /// <summary>ItkdIdleTimeout outside any vhost (else itkd's --worker-idle-timeout).</summary>
    public int? IdleTimeoutSeconds { get; set; }
    public List<ConfigDiagnostic> Diagnostics { get; } = new();
    /// <summary>Every file that was read, main file first.</summary>
    public List<string> Files { get; } = new();

    public IEnumerable<ConfigDiagnostic> Errors => Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error);
    public bool HasErrors => Errors.Any();
}
