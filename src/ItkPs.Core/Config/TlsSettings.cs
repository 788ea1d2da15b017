using System.Text.Json.Serialization;

namespace ItkPs.Core.Config;

/// <summary>
/// mod_ssl's directives of one &lt;VirtualHost&gt; (or of the main server, where vhosts inherit
/// SSLProtocol, SSLCipherSuite, SSLStrictSNIVHostCheck and SSLSessionTickets), as written: paths are
/// made absolute against ServerRoot as Apache does, everything else is kept as text and resolved by
/// <see cref="TlsPolicy"/> where it is used, so the validator and the worker read it the same way.
/// </summary>
public sealed class TlsSettings
{
    /// <summary>SSLEngine on.</summary>
    public bool Engine { get; set; }
    [JsonIgnore] public DirectiveRecord? EngineDirective { get; set; }

    /// <summary>SSLCertificateFile: the leaf (and, in a combined PEM, the chain and the key).</summary>
    public string? CertificateFile { get; set; }
    [JsonIgnore] public DirectiveRecord? CertificateDirective { get; set; }

    /// <summary>SSLCertificateKeyFile; without it the key is read from the certificate file, as mod_ssl does.</summary>
    public string? KeyFile { get; set; }
    [JsonIgnore] public DirectiveRecord? KeyDirective { get; set; }

    /// <summary>SSLCertificateChainFile (deprecated in Apache 2.4.8, still read): more intermediates.</summary>
    public string? ChainFile { get; set; }
    [JsonIgnore] public DirectiveRecord? ChainDirective { get; set; }

    /// <summary>SSLProtocol's arguments, e.g. "all -SSLv3 -TLSv1 -TLSv1.1".</summary>
    public List<string>? Protocol { get; set; }
    [JsonIgnore] public DirectiveRecord? ProtocolDirective { get; set; }

    /// <summary>SSLCipherSuite for TLS 1.2 and older (OpenSSL's cipher-list syntax).</summary>
    public string? CipherSuite { get; set; }
    [JsonIgnore] public DirectiveRecord? CipherSuiteDirective { get; set; }

    /// <summary>SSLCipherSuite TLSv1.3 …: the TLS 1.3 suites.</summary>
    public string? CipherSuiteTls13 { get; set; }
    [JsonIgnore] public DirectiveRecord? CipherSuiteTls13Directive { get; set; }

    /// <summary>SSLStrictSNIVHostCheck: a client without SNI may not reach a name-based vhost (403).</summary>
    public bool? StrictSni { get; set; }

    /// <summary>SSLSessionTickets; off turns resumption off altogether (.NET has no tickets-only switch).</summary>
    public bool? SessionTickets { get; set; }

    /// <summary>The file the key is read from: SSLCertificateKeyFile, else the certificate file itself.</summary>
    [JsonIgnore] public string? EffectiveKeyFile => KeyFile ?? CertificateFile;

    /// <summary>Where the key's directive was written (the certificate's when the key shares its file).</summary>
    [JsonIgnore] public DirectiveRecord? EffectiveKeyDirective => KeyFile is not null ? KeyDirective : CertificateDirective;

    /// <summary>Takes what this vhost leaves unset from the main server's settings.</summary>
    public void Inherit(TlsSettings server)
    {
        if (Protocol is null) { Protocol = server.Protocol; ProtocolDirective = server.ProtocolDirective; }
        if (CipherSuite is null) { CipherSuite = server.CipherSuite; CipherSuiteDirective = server.CipherSuiteDirective; }
        if (CipherSuiteTls13 is null) { CipherSuiteTls13 = server.CipherSuiteTls13; CipherSuiteTls13Directive = server.CipherSuiteTls13Directive; }
        StrictSni ??= server.StrictSni;
        SessionTickets ??= server.SessionTickets;
    }
}

/// <summary>The application protocols of the Protocols directive (core since Apache 2.4.17, used by mod_http2).</summary>
public static class HttpProtocolNames
{
    public const string Http11 = "http/1.1";
    public const string H2 = "h2";
    public const string H2c = "h2c";

    public static readonly IReadOnlyList<string> Known = [H2, H2c, Http11];

    /// <summary>
    /// What a vhost speaks when it says nothing: over TLS h2 and http/1.1 (Apache's own default is
    /// http/1.1 alone; write "Protocols h2 http/1.1" for the same under Apache), in the clear http/1.1.
    /// </summary>
    public static IReadOnlyList<string> Default(bool tls) => tls ? [H2, Http11] : [Http11];
}
