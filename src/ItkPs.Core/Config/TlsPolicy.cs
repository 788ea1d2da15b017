using System.Net.Security;
using System.Runtime.InteropServices;
using System.Security.Authentication;

namespace ItkPs.Core.Config;

/// <summary>
/// How mod_ssl's policy directives read, resolved once here for both the validator (which says
/// what itkd cannot honour, with file:line) and the worker (which applies the rest): SSLProtocol
/// as Apache parses it, SSLCipherSuite through OpenSSL's own cipher-list parser, and which Listen
/// addresses are TLS ports.
/// </summary>
public static partial class TlsPolicy
{
    /// <summary>The protocols itkd offers: .NET's TLS 1.2 and 1.3 (OpenSSL 3 refuses older ones at its default security level).</summary>
    public const SslProtocols Supported = SslProtocols.Tls12 | SslProtocols.Tls13;

    [Flags]
    private enum ApacheProtocol { None = 0, SslV3 = 1, Tls1 = 2, Tls11 = 4, Tls12 = 8, Tls13 = 16, All = Tls1 | Tls11 | Tls12 | Tls13 }

    /// <summary>
    /// SSLProtocol as ssl_engine_config.c reads it: a word without a sign replaces what is set, "+"
    /// adds, "-" removes, "all" is TLSv1 to TLSv1.3. Returns the part itkd can offer; what it cannot
    /// is in <paramref name="notOffered"/>; an unknown word or nothing left is <paramref name="error"/>.
    /// No SSLProtocol at all is Apache's default, which here is TLS 1.2 and 1.3.
    /// </summary>
    public static SslProtocols Protocols(IReadOnlyList<string>? args, out string? notOffered, out string? error)
    {
        notOffered = null; error = null;
        if (args is null || args.Count == 0) return Supported;
        var set = ApacheProtocol.None;
        var namedOld = ApacheProtocol.None; // SSLv3, TLSv1, TLSv1.1 asked for by name: said to be not offered
        foreach (var word in args)
        {
            char action = word.Length > 0 && word[0] is '+' or '-' ? word[0] : '\0';
            string name = action == '\0' ? word : word[1..];
            var one = name.ToLowerInvariant() switch
            {
                "all" => ApacheProtocol.All,
                "sslv3" => ApacheProtocol.SslV3,
                "sslv2" => ApacheProtocol.None, // Apache ignores it with a warning: it is long gone
                "tlsv1" => ApacheProtocol.Tls1,
                "tlsv1.1" => ApacheProtocol.Tls11,
                "tlsv1.2" => ApacheProtocol.Tls12,
                "tlsv1.3" => ApacheProtocol.Tls13,
                _ => (ApacheProtocol?)null,
            };
            if (one is not { } p) { error = $"SSLProtocol: illegal protocol '{name}' (Apache refuses it too)."; return SslProtocols.None; }
            if (action == '-') { set &= ~p; continue; }
            set = action == '+' ? set | p : p;
            if (p is ApacheProtocol.SslV3 or ApacheProtocol.Tls1 or ApacheProtocol.Tls11) namedOld |= p;
        }
        var offered = SslProtocols.None;
        if (set.HasFlag(ApacheProtocol.Tls12)) offered |= SslProtocols.Tls12;
        if (set.HasFlag(ApacheProtocol.Tls13)) offered |= SslProtocols.Tls13;
        var asked = new[] { (ApacheProtocol.SslV3, "SSLv3"), (ApacheProtocol.Tls1, "TLSv1"), (ApacheProtocol.Tls11, "TLSv1.1") }
            .Where(x => (namedOld & set).HasFlag(x.Item1)).Select(x => x.Item2).ToList();
        if (asked.Count > 0) notOffered = string.Join(", ", asked);
        if (offered == SslProtocols.None) error = "SSLProtocol leaves neither TLSv1.2 nor TLSv1.3, the protocols itkd offers: no client could connect.";
        return offered;
    }

    /// <summary>
    /// SSLCipherSuite (TLS 1.2 and older, OpenSSL cipher-list syntax: names, aliases such as HIGH,
    /// "!", "-", "+", "@STRENGTH") and SSLCipherSuite TLSv1.3 …, evaluated by this system's own
    /// libssl exactly as mod_ssl would have it evaluated: the IANA ids of the suites that result, TLS
    /// 1.3's defaults included when only the older list is given. Null when neither is set (OpenSSL's
    /// defaults). An <paramref name="error"/> when a list selects nothing.
    /// </summary>
    public static TlsCipherSuite[]? CipherSuites(string? tls12, string? tls13, out string? error)
    {
        error = null;
        if (tls12 is null && tls13 is null) return null;
        try { return OpenSsl.Resolve(tls12, tls13, out error); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            error = $"SSLCipherSuite cannot be evaluated here: {e.Message}";
            return null;
        }
    }

    /// <summary>The vhosts a connection accepted on this Listen can reach (any of their addresses matches it).</summary>
    public static IEnumerable<VirtualHost> Reachable(ServerConfig config, HostAddress listen) =>
        config.VirtualHosts.Where(v => v.Addresses.Any(a => (a.Port is null || a.Port == listen.Port) && (a.AnyHost || listen.AnyHost || a.Host == listen.Host)));

    /// <summary>
    /// Whether a Listen is a TLS port: "https" in the Listen line, or port 443 without a protocol (as
    /// Apache defaults), or — because Apache decides TLS per vhost — a port all of whose vhosts say
    /// SSLEngine on (Listen 8443 with SSLEngine on serves TLS under Apache too).
    /// </summary>
    public static bool IsTlsListen(ServerConfig config, HostAddress listen)
    {
        if (config.ListenProtocols.TryGetValue(listen, out var protocol)) return protocol == "https" || AllTls(config, listen);
        return listen.Port == 443 || AllTls(config, listen);
    }

    private static bool AllTls(ServerConfig config, HostAddress listen)
    {
        var reachable = Reachable(config, listen).ToList();
        return reachable.Count > 0 && reachable.All(v => v.Tls.Engine);
    }

    /// <summary>libssl's own cipher-list parser over a throw-away SSL_CTX (nothing else of OpenSSL is touched).</summary>
    private static partial class OpenSsl
    {
        private const string Ssl = "libssl.so.3", Crypto = "libcrypto.so.3";

        [LibraryImport(Ssl)] private static partial IntPtr TLS_server_method();
        [LibraryImport(Ssl)] private static partial IntPtr SSL_CTX_new(IntPtr method);
        [LibraryImport(Ssl)] private static partial void SSL_CTX_free(IntPtr ctx);
        [LibraryImport(Ssl, StringMarshalling = StringMarshalling.Utf8)] private static partial int SSL_CTX_set_cipher_list(IntPtr ctx, string list);
        [LibraryImport(Ssl, StringMarshalling = StringMarshalling.Utf8)] private static partial int SSL_CTX_set_ciphersuites(IntPtr ctx, string list);
        [LibraryImport(Ssl)] private static partial IntPtr SSL_CTX_get_ciphers(IntPtr ctx);
        [LibraryImport(Ssl)] private static partial ushort SSL_CIPHER_get_protocol_id(IntPtr cipher);
        [LibraryImport(Crypto)] private static partial int OPENSSL_sk_num(IntPtr stack);
        [LibraryImport(Crypto)] private static partial IntPtr OPENSSL_sk_value(IntPtr stack, int index);
        [LibraryImport(Crypto)] private static partial void ERR_clear_error();

        public static TlsCipherSuite[]? Resolve(string? tls12, string? tls13, out string? error)
        {
            error = null;
            IntPtr ctx = SSL_CTX_new(TLS_server_method());
            if (ctx == IntPtr.Zero) { error = "SSLCipherSuite: OpenSSL could not make a context to evaluate it."; ERR_clear_error(); return null; }
            try
            {
                if (tls12 is not null && SSL_CTX_set_cipher_list(ctx, tls12) != 1) { error = $"SSLCipherSuite '{tls12}' selects no cipher (Apache refuses to start with it too)."; return null; }
                if (tls13 is not null && SSL_CTX_set_ciphersuites(ctx, tls13) != 1) { error = $"SSLCipherSuite TLSv1.3 '{tls13}' selects no TLS 1.3 suite."; return null; }
                IntPtr stack = SSL_CTX_get_ciphers(ctx);
                int n = stack == IntPtr.Zero ? 0 : OPENSSL_sk_num(stack);
                var suites = new TlsCipherSuite[n];
                for (int i = 0; i < n; i++) suites[i] = (TlsCipherSuite)SSL_CIPHER_get_protocol_id(OPENSSL_sk_value(stack, i));
                return suites;
            }
            finally
            {
                SSL_CTX_free(ctx);
                ERR_clear_error(); // nothing of ours may be left for .NET's next OpenSSL call on this thread to find
            }
        }
    }
}
