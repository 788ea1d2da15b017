using System.Management.Automation;
using ItkPs.Core.Config;
using ItkPs.Core.Tls;

namespace ItkPs.Commands;

/// <summary>Lists every TLS site's certificate: subject, names, issuer, expiry.</summary>
/// <remarks>
/// <para>Reads the certificate of each vhost with SSLEngine on — never its key: the file is opened without following a link at its end, without blocking, at most 1 MB, and only its CERTIFICATE blocks are read — and writes one object each: Name, Subject, Sans, Issuer, NotBefore, NotAfter, DaysLeft, Thumbprint, SerialNumber, CoversName, CertificateFile, KeyFile, User and Problem. Sort them with Sort-Object DaysLeft.</para>
/// <para>A warning is written for each certificate that is expired, expires within 30 days, does not cover its vhost's name or cannot be read; the table view marks those under 30 days.</para>
/// </remarks>
/// <example>
/// <code>Get-ItkCertificate | Sort-Object DaysLeft | Format-Table Name, DaysLeft, NotAfter, Issuer</code>
/// <para>Every site's certificate, the soonest to expire first.</para>
/// </example>
/// <example>
/// <code>Get-ItkCertificate -ExpiringWithin 30 -WarningAction SilentlyContinue</code>
/// <para>Only those due for renewal, as objects.</para>
/// </example>
/// <seealso cref="SetItkCertificateCommand"/>
/// <seealso cref="RequestItkCertificateCommand"/>
[Cmdlet(VerbsCommon.Get, "ItkCertificate")]
[OutputType(typeof(CertificateInfo))]
public sealed class GetItkCertificateCommand : ItkCmdlet
{
    /// <summary>Vhost names (wildcards); all TLS vhosts when omitted.</summary>
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(VhostNameCompleter))]
    [SupportsWildcards]
    [PSDefaultValue(Help = "every TLS vhost")]
    public string[]? Name { get; set; }

    /// <summary>Only certificates that expire within this many days (or are unreadable), e.g. for a renewal report.</summary>
    [Parameter]
    [ValidateRange(0, 3650)]
    [PSDefaultValue(Help = "all")]
    public int? ExpiringWithin { get; set; }

    private ServerConfig? _config;

    protected override void BeginProcessing() => _config = Root.Read();

    protected override void ProcessRecord()
    {
        var now = DateTime.UtcNow;
        foreach (var pattern in Name ?? ["*"])
        {
            var found = FindVhosts(_config!, pattern).Where(v => v.Tls.Engine).ToList();
            if (found.Count == 0 && !WildcardPattern.ContainsWildcardCharacters(pattern))
                WriteError(Errors.NotFound(ErrorIds.VhostNotFound, pattern, $"No TLS vhost named '{pattern}' in {Root.Path}."));
            foreach (var vh in found)
            {
                var info = CertificateReport.Describe(vh, now, Accounts);
                if (ExpiringWithin is int days && info.Problem is null && info.DaysLeft >= days) continue;
                if (info.Problem is not null) WriteWarning($"{vh.Name}: {info.CertificateFile}: {info.Problem}.");
                else if (info.DaysLeft < 30) WriteWarning($"{vh.Name}: the certificate expires on {info.NotAfter:yyyy-MM-dd} ({info.DaysLeft} days left).");
                WriteObject(new CertificateInfo(info));
            }
        }
    }
}
