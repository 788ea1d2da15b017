using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using ItkPs.Core.Config;
using Mono.Unix.Native;

namespace ItkPs.Server;

/// <summary>
/// A worker's certificates and keys, one pair per TLS vhost of its pool, read in this process as
/// the site's user (after the privilege drop: the kernel, not itkd, decides whether a key may be
/// read — another tenant's key is EACCES). Each pair is loaded once, at its vhost's first
/// handshake, into a cached <see cref="SslServerAuthenticationOptions"/> (an SslStreamCertificateContext
/// built offline: no chain fetching per handshake). <see cref="Refresh"/> stats the files every
/// second and loads a pair whose files changed and then stayed the same for a second (a renewal
/// needs no restart, and a tool that writes the certificate and the key one after the other, or
/// in place, is not caught half-way); a new pair that does not load leaves the old one serving and
/// says why, once per change.
/// </summary>
public sealed class SiteCertificates(Snapshot snapshot, int poolId)
{
    private sealed class Entry(VirtualHost vhost)
    {
        public readonly VirtualHost Vhost = vhost;
        public readonly object Gate = new();
        public volatile SslServerAuthenticationOptions? Options;
        public volatile X509Certificate2? Leaf;
        public bool Tried;
        public string? Signature, FailedSignature, Pending;
        public string? Failure;
    }

    private readonly Dictionary<int, Entry> _entries = snapshot.VhostsOf(poolId).Where(v => v.Vhost.Tls.Engine)
        .ToDictionary(v => v.Index, v => new Entry(v.Vhost));

    /// <summary>The TLS options for a handshake on a connection routed to vhost <paramref name="vhost"/>; null (and why) when its pair cannot be used.</summary>
    public SslServerAuthenticationOptions? Options(int vhost, out X509Certificate2? leaf, out string? why)
    {
        leaf = null;
        why = null;
        if (!_entries.TryGetValue(vhost, out var e)) { why = $"vhost {vhost} is not a TLS vhost of this worker"; return null; }
        if (!e.Tried)
            lock (e.Gate)
                if (!e.Tried) { Load(e, Signature(e.Vhost.Tls)); e.Tried = true; }
        leaf = e.Leaf;
        why = e.Failure;
        return e.Options;
    }

    /// <summary>Run once a second: reloads the pairs whose files changed since they were (or failed to be) loaded.</summary>
    public void Refresh()
    {
        foreach (var e in _entries.Values)
        {
            if (!e.Tried) continue;
            string signature = Signature(e.Vhost.Tls);
            lock (e.Gate)
            {
                if (signature == e.Signature || signature == e.FailedSignature) { e.Pending = null; continue; }
                if (signature != e.Pending) { e.Pending = signature; continue; } // changed: wait until it holds still
                e.Pending = null;
                Load(e, signature);
            }
        }
    }

    /// <summary>The pool's own account as the key check needs it (its group's members from the group database).</summary>
    private readonly (ItkPs.Core.Unix.UserAccount User, ItkPs.Core.Unix.GroupAccount Group) _account = Account(snapshot.Pool(poolId));

    private static (ItkPs.Core.Unix.UserAccount, ItkPs.Core.Unix.GroupAccount) Account(PoolSpec p) =>
        (new ItkPs.Core.Unix.UserAccount(p.User, p.Uid, p.Gid, "", ""),
         ItkPs.Core.Unix.SystemAccounts.Instance.FindGroup(p.Gid) ?? new ItkPs.Core.Unix.GroupAccount(p.Group, p.Gid, []));

    /// <summary>
    /// Reads the pair as this process's user, after the same key check the master makes at start-up
    /// (a key others can read, or that someone else can replace, is refused here too, also when it
    /// became so after the start); on failure keeps what was loaded before and logs why (once per
    /// version of the files).
    /// </summary>
    private void Load(Entry e, string signature)
    {
        var t = e.Vhost.Tls;
        try
        {
            if (KeyFileCheck.Problems(t.EffectiveKeyFile!, _account.User, _account.Group, ItkPs.Core.Unix.SystemAccounts.Instance).FirstOrDefault() is { } problem)
                throw new IOException($"the key is refused: {problem}");
            var leaf = X509Certificate2.CreateFromPemFile(t.CertificateFile!, t.KeyFile);
            var chain = new X509Certificate2Collection();
            var inFile = new X509Certificate2Collection();
            inFile.ImportFromPemFile(t.CertificateFile!);
            foreach (var c in inFile) if (c.Thumbprint != leaf.Thumbprint) chain.Add(c);
            if (t.ChainFile is not null) chain.ImportFromPemFile(t.ChainFile);
            var options = new SslServerAuthenticationOptions
            {
                ServerCertificateContext = SslStreamCertificateContext.Create(leaf, chain, offline: true),
                EnabledSslProtocols = TlsPolicy.Protocols(t.Protocol, out _, out _),
                CipherSuitesPolicy = TlsPolicy.CipherSuites(t.CipherSuite, t.CipherSuiteTls13, out _) is { } suites ? new CipherSuitesPolicy(suites) : null,
                ApplicationProtocols = Alpn(e.Vhost),
                // SSLSessionTickets off: .NET has only the one switch, for tickets and session ids together.
                AllowTlsResume = t.SessionTickets != false,
                ClientCertificateRequired = false,
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            };
            bool renewed = e.Options is not null;
            e.Leaf = leaf;
            e.Options = options;
            e.Signature = signature;
            e.Failure = null;
            e.FailedSignature = null;
            Log.Write(LogEvent.CertificateLoaded, $"{e.Vhost.Name}: {(renewed ? "renewed: " : "")}{leaf.Subject} (serial {leaf.SerialNumber}, until {leaf.NotAfter.ToUniversalTime():yyyy-MM-dd}) from {t.CertificateFile}{(t.KeyFile is null ? "" : $" and {t.KeyFile}")}");
        }
        catch (Exception x) when (x is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException or NotSupportedException)
        {
            e.FailedSignature = signature;
            string why = x is UnauthorizedAccessException ? $"{x.Message} Permission denied (EACCES) to {Environment.UserName}, the site's user, who reads the files" : x.Message;
            var old = e.Leaf;
            if (old is null) e.Failure = why;
            Log.Write(LogEvent.CertificateFailed, old is null
                ? $"{e.Vhost.Name}: cannot load the certificate {t.CertificateFile} and key {t.EffectiveKeyFile}: {why}; TLS handshakes for this vhost fail until the files are fixed"
                : $"{e.Vhost.Name}: the changed certificate {t.CertificateFile} / key {t.EffectiveKeyFile} cannot be loaded: {why}; still serving serial {old.SerialNumber} (until {old.NotAfter.ToUniversalTime():yyyy-MM-dd})");
        }
    }

    /// <summary>The ALPN names the vhost offers, in its Protocols order (h2c is not a TLS protocol).</summary>
    private static List<SslApplicationProtocol> Alpn(VirtualHost vh)
    {
        var list = new List<SslApplicationProtocol>();
        foreach (var p in vh.EffectiveProtocols)
        {
            if (p == HttpProtocolNames.H2) list.Add(SslApplicationProtocol.Http2);
            else if (p == HttpProtocolNames.Http11) list.Add(SslApplicationProtocol.Http11);
        }
        if (list.Count == 0) list.Add(SslApplicationProtocol.Http11);
        return list;
    }

    /// <summary>What identifies the version of a pair's files: device, inode, size, mtime and ctime of each (or why it cannot be stat'ed).</summary>
    private static string Signature(TlsSettings t)
    {
        var parts = new List<string>();
        foreach (var path in new[] { t.CertificateFile, t.KeyFile, t.ChainFile })
        {
            if (path is null) continue;
            parts.Add(Syscall.stat(path, out var st) == 0
                ? $"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime}.{st.st_mtime_nsec}:{st.st_ctime}.{st.st_ctime_nsec}"
                : $"errno {Stdlib.GetLastError()}");
        }
        return string.Join('|', parts);
    }
}

/// <summary>Thrown from the TLS callback when a vhost has no usable pair: Kestrel ends the handshake quietly, the worker's own log line says why.</summary>
public sealed class SiteCertificateException(string message) : AuthenticationException(message);
