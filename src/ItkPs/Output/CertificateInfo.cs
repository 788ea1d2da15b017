using ItkPs.Core.Tls;

namespace ItkPs;

/// <summary>A TLS vhost's certificate as Get-ItkCertificate shows it: who it names, who issued it, when it ends.</summary>
public sealed class CertificateInfo
{
    internal CertificateInfo(CertificateFacts c)
    {
        Name = c.Name;
        Subject = c.Subject;
        Sans = c.Sans.ToArray();
        Issuer = c.Issuer;
        NotBefore = c.NotBefore;
        NotAfter = c.NotAfter;
        DaysLeft = c.DaysLeft;
        Thumbprint = c.Thumbprint;
        SerialNumber = c.SerialNumber;
        CoversName = c.CoversName;
        CertificateFile = c.CertificateFile;
        KeyFile = c.KeyFile;
        User = c.User;
        Problem = c.Problem;
    }

    /// <summary>The vhost's ServerName.</summary>
    public string Name { get; }
    public string? Subject { get; }
    /// <summary>The DNS names of its subjectAltName.</summary>
    public string[] Sans { get; }
    public string? Issuer { get; }
    public DateTime? NotBefore { get; }
    /// <summary>When it expires (UTC).</summary>
    public DateTime? NotAfter { get; }
    /// <summary>Whole days until NotAfter; negative once expired.</summary>
    public int? DaysLeft { get; }
    /// <summary>SHA-1 thumbprint, as .NET and most tools show it.</summary>
    public string? Thumbprint { get; }
    public string? SerialNumber { get; }
    /// <summary>True when the certificate covers the vhost's ServerName.</summary>
    public bool CoversName { get; }
    public string CertificateFile { get; }
    /// <summary>Its SSLCertificateKeyFile; none when the key is in the certificate file.</summary>
    public string? KeyFile { get; }
    /// <summary>The vhost's user, who alone reads the key.</summary>
    public string? User { get; }
    /// <summary>What is wrong (unreadable, expired, does not cover the name), or nothing.</summary>
    public string? Problem { get; }

    public override string ToString() => $"{Name} ({Subject}, until {NotAfter:yyyy-MM-dd})";
}
