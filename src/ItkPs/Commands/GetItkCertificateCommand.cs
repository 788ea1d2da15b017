using System.Management.Automation;
using ItkPs.Core.Config;
using ItkPs.Core.Tls;

namespace ItkPs.Commands;

/// <summary>
/// Get-ItkCertificate: every TLS vhost's certificate — subject, SANs, issuer, NotAfter and days
/// left — one object each (sort them by DaysLeft), with a warning for each that is expired,
/// expires within 30 days, does not cover its vhost's name or cannot be read. Reads certificates
/// only: a key is never opened.
/// </summary>
[Cmdlet(VerbsCommon.Get, "ItkCertificate")]
[OutputType(typeof(CertificateInfo))]
public sealed class GetItkCertificateCommand : ItkCmdlet
{
    /// <summary>Vhost names (wildcards); all TLS vhosts when omitted.</summary>
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(VhostNameCompleter))]
    [SupportsWildcards]
    public string[]? Name { get; set; }

    /// <summary>Only certificates that expire within this many days (or are unreadable), e.g. for a renewal report.</summary>
    [Parameter]
    [ValidateRange(0, 3650)]
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
                WriteError(Error(ErrorIds.VhostNotFound, ErrorCategory.ObjectNotFound, pattern, $"No TLS vhost named '{pattern}' in {Root.Path}."));
            foreach (var vh in found)
            {
                var info = CertificateReport.Describe(vh, now);
                if (ExpiringWithin is int days && info.Problem is null && info.DaysLeft >= days) continue;
                if (info.Problem is not null) WriteWarning($"{vh.Name}: {info.CertificateFile}: {info.Problem}.");
                else if (info.DaysLeft < 30) WriteWarning($"{vh.Name}: the certificate expires on {info.NotAfter:yyyy-MM-dd} ({info.DaysLeft} days left).");
                WriteObject(info);
            }
        }
    }
}
