using ItkPs.Core.Unix;
using Mono.Unix.Native;

namespace ItkPs.Core.Config;

/// <summary>
/// The TLS part of <see cref="ConfigValidator"/>: what Apache's mod_ssl refuses at start-up (SSLEngine
/// on without a certificate, an SSLProtocol or SSLCipherSuite that leaves nothing), what itkd adds
/// (each key readable by its vhost's user alone, on a path no other tenant can change; a TLS port
/// serves TLS vhosts only), and what itkd cannot honour, as warnings. Every finding names the
/// directive's file and line. Files are only stat'ed, never opened.
/// </summary>
public static class TlsValidation
{
    public static IEnumerable<ConfigDiagnostic> Validate(ServerConfig config, IAccountDatabase accounts, bool checkFiles)
    {
        var found = new List<ConfigDiagnostic>();
        foreach (var vh in config.VirtualHosts)
        {
            var t = vh.Tls;
            string label = vh.Name.Length > 0 ? $"vhost {vh.Name}" : $"vhost {vh.Listen}";
            void At(DirectiveRecord? d, DiagnosticSeverity s, string m) =>
                found.Add(new ConfigDiagnostic(s, d?.File ?? vh.File, d?.Line ?? vh.Line, $"{label}: {m}"));

            if (t.Protocol is not null)
            {
                TlsPolicy.Protocols(t.Protocol, out string? notOffered, out string? protocolError);
                if (protocolError is not null) At(t.ProtocolDirective, DiagnosticSeverity.Error, protocolError);
                else if (notOffered is not null && t.Engine)
                    At(t.ProtocolDirective, DiagnosticSeverity.Warning, $"SSLProtocol asks for {notOffered}: itkd offers TLSv1.2 and TLSv1.3 only (OpenSSL 3 refuses older protocols at its default security level).");
            }
            if (vh.Protocols.Contains(HttpProtocolNames.H2c) && t.Engine)
                At(vh.ProtocolsDirective, DiagnosticSeverity.Warning, "Protocols h2c on a TLS vhost: h2c is HTTP/2 in the clear; over TLS the vhost speaks h2 when it lists h2.");
            if (!t.Engine)
            {
                if (t.CertificateFile is not null || t.KeyFile is not null)
                    At(t.CertificateDirective ?? t.KeyDirective, DiagnosticSeverity.Warning, "a certificate without SSLEngine on: the vhost is served in the clear (as under Apache).");
                continue;
            }
            if (t.CipherSuite is not null || t.CipherSuiteTls13 is not null)
            {
                TlsPolicy.CipherSuites(t.CipherSuite, t.CipherSuiteTls13, out string? cipherError);
                if (cipherError is not null) At(t.CipherSuiteTls13 is not null && cipherError.Contains("TLSv1.3") ? t.CipherSuiteTls13Directive : t.CipherSuiteDirective, DiagnosticSeverity.Error, cipherError);
            }
            if (t.CertificateFile is null)
            {
                At(t.EngineDirective, DiagnosticSeverity.Error, "SSLEngine on without SSLCertificateFile: the vhost has no certificate to serve (Apache refuses this too).");
                continue;
            }
            if (!checkFiles) continue;
            // Not there yet (a pair Request-ItkCertificate has still to fetch): this vhost's handshakes
            // fail until it is, and the worker loads it when it appears. Not an error: one site
            // without its files must not keep every other site from starting or reloading.
            bool missing = false;
            foreach (var (path, d, what) in new[] { (t.CertificateFile, t.CertificateDirective, "SSLCertificateFile"), (t.EffectiveKeyFile!, t.EffectiveKeyDirective, "SSLCertificateKeyFile") })
                if (Syscall.stat(path, out _) != 0 && Stdlib.GetLastError() == Errno.ENOENT && !missing)
                {
                    missing = true;
                    At(d, DiagnosticSeverity.Warning, $"{what} '{path}' does not exist: TLS handshakes for this vhost fail until a pair is installed (Set-ItkCertificate, Request-ItkCertificate); the worker loads it when it appears.");
                }
            if (missing) continue;
            if (Syscall.stat(t.CertificateFile, out var cst) != 0)
                At(t.CertificateDirective, DiagnosticSeverity.Error, $"SSLCertificateFile '{t.CertificateFile}' cannot be read: {Stdlib.GetLastError()}.");
            else if ((cst.st_mode & FilePermissions.S_IFMT) != FilePermissions.S_IFREG)
                At(t.CertificateDirective, DiagnosticSeverity.Error, $"SSLCertificateFile '{t.CertificateFile}' is not a regular file.");
            if (t.ChainFile is not null && Syscall.stat(t.ChainFile, out _) != 0)
                At(t.ChainDirective, DiagnosticSeverity.Error, $"SSLCertificateChainFile '{t.ChainFile}' cannot be read: {Stdlib.GetLastError()}.");

            var user = vh.User is null ? null : accounts.FindUser(vh.User);
            var group = vh.Group is null ? null : accounts.FindGroup(vh.Group);
            if (user is null || group is null) continue; // said already: no user to hold the key
            string keyWhat = t.KeyFile is null ? "the key (in SSLCertificateFile, as there is no SSLCertificateKeyFile)" : "SSLCertificateKeyFile";
            foreach (var problem in KeyFileCheck.Problems(t.EffectiveKeyFile!, user, group, accounts))
            {
                var d = t.EffectiveKeyDirective;
                found.Add(new ConfigDiagnostic(DiagnosticSeverity.Error, d?.File ?? vh.File, d?.Line ?? vh.Line,
                    $"{label}: {keyWhat}: {problem} The key is refused: this vhost's TLS handshakes fail until it is fixed (other vhosts are not held back).") { OnlyItsVhost = true });
            }
            if (t.KeyFile is not null && PathSafety.UntrustedWriter(t.CertificateFile, accounts, user.Uid) is { } writer)
                At(t.CertificateDirective, DiagnosticSeverity.Warning, $"SSLCertificateFile '{t.CertificateFile}': {writer}, who could replace the certificate (the worker keeps the old one when the key does not match).");
        }

        // A TLS port speaks TLS to every vhost it reaches, a cleartext port to none: itkd decides per port.
        foreach (var (address, file, line) in config.Listens.DistinctBy(l => l.Address))
        {
            bool tls = TlsPolicy.IsTlsListen(config, address);
            foreach (var vh in TlsPolicy.Reachable(config, address).Where(v => v.Tls.Engine != tls))
            {
                string label = vh.Name.Length > 0 ? $"vhost {vh.Name}" : $"vhost {vh.Listen}";
                found.Add(tls
                    ? ConfigDiagnostic.Error(vh.File, vh.Line, $"{label} is reachable on the TLS port {address} (Listen at {file}:{line}) but has no SSLEngine on; Apache would answer plain HTTP there. Give it SSLEngine on and its certificate, or another port.")
                    : ConfigDiagnostic.Error(vh.Tls.EngineDirective?.File ?? vh.File, vh.Tls.EngineDirective?.Line ?? vh.Line,
                        $"{label} has SSLEngine on but is also reachable on the cleartext port {address} (Listen at {file}:{line}), where other vhosts are served in the clear; give its <VirtualHost> the TLS port only, or say 'Listen {address} https'."));
            }
        }
        return found;
    }
}
