using System.Security.Cryptography.X509Certificates;
using ItkPs.Core.Config;

namespace ItkPs.Core.Tls;

/// <summary>What is known of one TLS vhost's certificate (Get-ItkCertificate shows it as ItkPs.CertificateInfo).</summary>
public sealed record CertificateFacts(
    string Name,
    string? Subject,
    IReadOnlyList<string> Sans,
    string? Issuer,
    DateTime? NotBefore,
    DateTime? NotAfter,
    int? DaysLeft,
    string? Thumbprint,
    string? SerialNumber,
    bool CoversName,
    string CertificateFile,
    string? KeyFile,
    string? User,
    string? Problem)
{
    /// <summary>Expired, due within 30 days, or unreadable: what a renewal job or an operator should look at.</summary>
    public bool NeedsAttention => Problem is not null || DaysLeft is null or < 30;
}

/// <summary>Reads each TLS vhost's certificate (never its key) for Get-ItkCertificate.</summary>
public static class CertificateReport
{
    /// <summary>
    /// The facts of one vhost's certificate. Run as root with <paramref name="accounts"/>, a file on a
    /// path someone besides root could steer (the site's own folder) is opened with the site user's
    /// rights, as the site's worker opens it: a link the tenant plants there cannot make root read
    /// another tenant's files.
    /// </summary>
    public static CertificateFacts Describe(VirtualHost vh, DateTime now, ItkPs.Core.Unix.IAccountDatabase? accounts = null)
    {
        var t = vh.Tls;
        string file = t.CertificateFile ?? "";
        string? keyFile = t.KeyFile;
        if (t.CertificateFile is null)
            return new CertificateFacts(vh.Name, null, [], null, null, null, null, null, null, false, file, keyFile, vh.User, "SSLEngine on without SSLCertificateFile");
        try
        {
            var leaf = CertificateStore.ReadCertificates(t.CertificateFile, ReaderFor(vh, t.CertificateFile, accounts))[0];
            var sans = DnsNames(leaf);
            int days = (int)Math.Floor((leaf.NotAfter.ToUniversalTime() - now).TotalDays);
            bool covers = leaf.MatchesHostname(vh.Name);
            string? problem = now > leaf.NotAfter.ToUniversalTime() ? "expired" : !covers ? $"does not cover {vh.Name}" : null;
            return new CertificateFacts(vh.Name, leaf.Subject, sans, leaf.Issuer, leaf.NotBefore.ToUniversalTime(), leaf.NotAfter.ToUniversalTime(), days,
                leaf.Thumbprint, leaf.SerialNumber, covers, file, keyFile, vh.User, problem);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException or FormatException)
        {
            return new CertificateFacts(vh.Name, null, [], null, null, null, null, null, null, false, file, keyFile, vh.User, e.Message);
        }
    }

    /// <summary>Whose rights open the file: null for the caller's own (not root, or a path only root can change).</summary>
    private static (uint, uint, IReadOnlyList<uint>)? ReaderFor(VirtualHost vh, string file, ItkPs.Core.Unix.IAccountDatabase? accounts)
    {
        if (accounts is null || !Environment.IsPrivilegedProcess) return null;
        if (ItkPs.Core.Unix.PathSafety.UntrustedWriter(file, accounts) is null) return null;
        var user = vh.User is null ? null : accounts.FindUser(vh.User);
        if (user is null || user.Uid == 0)
            throw new IOException($"the folder of {file} can be changed by someone besides root, and the vhost's user ({vh.User ?? "none"}) is not an account to read it as");
        uint gid = vh.Group is not null && accounts.FindGroup(vh.Group) is { } g ? g.Gid : user.Gid;
        return (user.Uid, gid, accounts.GroupsOf(user.Name));
    }

    /// <summary>The DNS names of the subjectAltName extension.</summary>
    public static IReadOnlyList<string> DnsNames(X509Certificate2 cert)
    {
        foreach (var ext in cert.Extensions)
            if (ext is X509SubjectAlternativeNameExtension san) return san.EnumerateDnsNames().ToList();
        return [];
    }
}
