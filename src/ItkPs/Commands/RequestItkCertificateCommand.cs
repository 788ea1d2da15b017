using System.Management.Automation;
using ItkPs.Core.Config;
using ItkPs.Core.Tls;

namespace ItkPs.Commands;

/// <summary>
/// Request-ItkCertificate: a certificate from an ACME CA (Let's Encrypt by default) for a site,
/// obtained by lego running as the site's user: the HTTP-01 token is written into the site's own
/// DocumentRoot and served by the site's cleartext vhost, the key is generated and kept by the
/// site's user in its folder, and root never touches it. The site's TLS vhost is pointed at lego's
/// files. -Renew renews what is due within -Days (a no-op otherwise): the command a timer runs,
/// e.g. Get-ItkCertificate -ExpiringWithin 30 | Request-ItkCertificate -Renew -Email … .
/// </summary>
[Cmdlet(VerbsLifecycle.Request, "ItkCertificate", SupportsShouldProcess = true, DefaultParameterSetName = "Name")]
[OutputType(typeof(CertificateInfo))]
public sealed class RequestItkCertificateCommand : CertificateCmdlet
{
    /// <summary>The ACME account's contact address.</summary>
    [Parameter(Mandatory = true)]
    [ValidateNotNullOrEmpty]
    public string Email { get; set; } = "";

    /// <summary>The ACME directory URL (default: Let's Encrypt's production directory).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string Server { get; set; } = AcmeClient.LetsEncrypt;

    /// <summary>A CA certificate (PEM) to trust for the ACME server itself, e.g. a test CA's (LEGO_CA_CERTIFICATES).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? CaCertificate { get; set; }

    /// <summary>Agree to the CA's terms of service (lego --accept-tos); required, as lego requires it.</summary>
    [Parameter] public SwitchParameter AcceptTermsOfService { get; set; }

    /// <summary>Renew an existing certificate when it expires within -Days; nothing happens otherwise.</summary>
    [Parameter] public SwitchParameter Renew { get; set; }

    [Parameter]
    [ValidateRange(1, 365)]
    public int Days { get; set; } = 30;

    /// <summary>Renew at once: lego otherwise waits a random while first, which CAs ask of timers.</summary>
    [Parameter] public SwitchParameter NoRandomSleep { get; set; }

    /// <summary>lego's key type: ec256 (default), ec384, rsa2048, rsa4096.</summary>
    [Parameter]
    [ValidateSet("ec256", "ec384", "rsa2048", "rsa4096", "rsa8192")]
    public string KeyType { get; set; } = "ec256";

    [Parameter]
    [ValidateRange(10, 3600)]
    public int TimeoutSeconds { get; set; } = 300;

    protected override void ProcessRecord()
    {
        if (!AcceptTermsOfService)
        {
            WriteError(Error(ErrorIds.AcmeFailed, ErrorCategory.InvalidArgument, Server, "-AcceptTermsOfService is required: the CA's terms are accepted on the site's behalf."));
            return;
        }
        bool changed = false;
        foreach (var vh in TlsTargets())
        {
            var user = vh.User is null ? null : Accounts.FindUser(vh.User);
            var group = vh.Group is null ? null : Accounts.FindGroup(vh.Group);
            if (user is null || group is null || user.Uid == 0 || vh.DocumentRoot is null)
            {
                WriteError(Error(ErrorIds.TlsNeedsUser, ErrorCategory.InvalidArgument, vh,
                    $"{vh.Name} needs its own user and a DocumentRoot: lego runs as the site's user and answers HTTP-01 from the DocumentRoot."));
                continue;
            }
            var domains = new[] { vh.Name }.Concat(vh.Aliases).Where(n => n.Length > 0 && !n.Contains('*') && !n.Contains('?')).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
            if (!ShouldProcess($"{vh.Name} ({vh.File})", $"{(Renew ? "Renew (when due within " + Days + " days)" : "Request")} a certificate for {string.Join(", ", domains)} from {Server} as {user.Name}, HTTP-01 through {vh.DocumentRoot}")) continue;
            string site;
            try { site = CertificateStore.PrepareSiteDirectory(Root.Path, vh.Name, user, group); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                WriteError(Error(ErrorIds.CertificateInstallFailed, ErrorCategory.WriteError, vh, e.Message, e));
                continue;
            }
            var request = new AcmeRequest(vh.Name, domains, vh.DocumentRoot, user, group, site, Email, Server,
                CaCertificate is null ? null : ResolvePath(CaCertificate), KeyType, Renew, Days, !NoRandomSleep);
            WriteVerbose($"setpriv/lego: {string.Join(' ', AcmeClient.Command(request).ArgumentList)}");
            var result = AcmeClient.Run(request, TimeSpan.FromSeconds(TimeoutSeconds));
            foreach (var line in result.Output.Split('\n')) WriteVerbose(line);
            if (!result.Ok)
            {
                var tail = string.Join(" | ", result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).TakeLast(3));
                WriteError(Error(ErrorIds.AcmeFailed, ErrorCategory.InvalidResult, vh, $"lego for {vh.Name} (as {user.Name}) failed with exit code {result.ExitCode}: {tail}"));
                continue;
            }
            changed |= PointAt(vh, result.CertificateFile, result.KeyFile);
            if (PassThru && Reread(vh) is { } now) WriteObject(CertificateReport.Describe(now, DateTime.UtcNow));
        }
        // New paths in a vhost need a reload; renewed files in place are picked up by the workers.
        if (Reload && changed) ReloadServer();
    }
}
