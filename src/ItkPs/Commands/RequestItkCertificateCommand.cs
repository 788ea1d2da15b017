using System.Management.Automation;
using ItkPs.Core.Config;
using ItkPs.Core.Tls;

namespace ItkPs.Commands;

/// <summary>Obtains or renews a site's certificate from an ACME CA, as the site's user.</summary>
/// <remarks>
/// <para>Runs Debian's lego as the vhost's user (setpriv: its uid, gid and groups, no_new_privs, a clean environment) with HTTP-01 through the site's own DocumentRoot: lego writes the token under .well-known/acme-challenge and the CA fetches it from the site's cleartext vhost, which itkd (or Apache + mpm-itk) serves as that user. The key is generated and kept by the site's user in &lt;config root&gt;/tls/&lt;vhost&gt;/acme; no root process opens it. The TLS vhost of that name is then pointed at lego's files (-Reload makes a running itkd take the new paths).</para>
/// <para>Lego rather than certbot or dehydrated: one program with no runtime of its own, no root, no configuration file, all its state under one folder (the site's), a webroot mode for HTTP-01, and a renew command that does nothing until a certificate is due. -Renew renews only what expires within -Days, so a timer can run it daily; renewed files at the same paths are served without a reload. Errors: AcmeFailed (with lego's last lines), NotTlsVhost, TlsNeedsUser, CertificateInstallFailed, ReloadRejected.</para>
/// </remarks>
/// <example>
/// <code>Request-ItkCertificate -Name shop.example.com -Email admin@example.com -AcceptTermsOfService -Reload</code>
/// <para>A certificate from Let's Encrypt for the shop and its aliases; the vhost is pointed at it and itkd reloads.</para>
/// </example>
/// <example>
/// <code>Get-ItkVhost | Where-Object Tls | Request-ItkCertificate -Renew -Email admin@example.com -AcceptTermsOfService</code>
/// <para>What a daily timer runs: renews each site's certificate that expires within 30 days.</para>
/// </example>
/// <seealso cref="GetItkCertificateCommand"/>
/// <seealso cref="SetItkCertificateCommand"/>
[Cmdlet(VerbsLifecycle.Request, "ItkCertificate", SupportsShouldProcess = true, DefaultParameterSetName = "Name")]
[OutputType(typeof(CertificateInfo))]
public sealed class RequestItkCertificateCommand : CertificateCmdlet
{
    /// <summary>The ACME account's contact address.</summary>
    [Parameter(Mandatory = true)]
    [ValidateNotNullOrEmpty]
    public string Email { get; set; } = "";

    /// <summary>The ACME directory URL.</summary>
    [Parameter]
    [PSDefaultValue(Help = "Let's Encrypt, https://acme-v02.api.letsencrypt.org/directory")]
    [ValidateNotNullOrEmpty]
    public string Server { get; set; } = AcmeClient.LetsEncrypt;

    /// <summary>A CA certificate (PEM) to trust for the ACME server itself, e.g. a test CA's (LEGO_CA_CERTIFICATES).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [PSDefaultValue(Help = "the system's trusted CAs")]
    public string? CaCertificate { get; set; }

    /// <summary>Agree to the CA's terms of service (lego --accept-tos); required, as lego requires it.</summary>
    [Parameter] public SwitchParameter AcceptTermsOfService { get; set; }

    /// <summary>Renew an existing certificate when it expires within -Days; nothing happens otherwise.</summary>
    [Parameter] public SwitchParameter Renew { get; set; }

    /// <summary>With -Renew: renew when the certificate expires within this many days.</summary>
    [Parameter]
    [ValidateRange(1, 365)]
    public int Days { get; set; } = 30;

    /// <summary>Renew at once: lego otherwise waits a random while first, which CAs ask of timers.</summary>
    [Parameter] public SwitchParameter NoRandomSleep { get; set; }

    /// <summary>lego's key type: ec256 (default), ec384, rsa2048, rsa4096.</summary>
    [Parameter]
    [ValidateSet("ec256", "ec384", "rsa2048", "rsa4096", "rsa8192")]
    public string KeyType { get; set; } = "ec256";

    /// <summary>How long lego may take, in seconds.</summary>
    [Parameter]
    [ValidateRange(10, 3600)]
    public int TimeoutSeconds { get; set; } = 300;

    protected override void ProcessRecord()
    {
        if (!AcceptTermsOfService)
        {
            WriteError(Errors.InvalidArgument(ErrorIds.AcmeFailed, nameof(AcceptTermsOfService), Server, "-AcceptTermsOfService is required: the CA's terms are accepted on the site's behalf."));
            return;
        }
        bool changed = false;
        foreach (var vh in TlsTargets())
        {
            var user = vh.User is null ? null : Accounts.FindUser(vh.User);
            var group = vh.Group is null ? null : Accounts.FindGroup(vh.Group);
            if (user is null || group is null || user.Uid == 0 || vh.DocumentRoot is null)
            {
                WriteError(Errors.InvalidOperation(ErrorIds.TlsNeedsUser, ErrorCategory.InvalidArgument, vh.Name,
                    $"{vh.Name} needs its own user and a DocumentRoot: lego runs as the site's user and answers HTTP-01 from the DocumentRoot."));
                continue;
            }
            var domains = new[] { vh.Name }.Concat(vh.Aliases).Where(n => n.Length > 0 && !n.Contains('*') && !n.Contains('?')).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
            if (!ShouldProcess($"{vh.Name} ({vh.File})", $"{(Renew ? "Renew (when due within " + Days + " days)" : "Request")} a certificate for {string.Join(", ", domains)} from {Server} as {user.Name}, HTTP-01 through {vh.DocumentRoot}")) continue;
            string site;
            try { site = CertificateStore.PrepareSiteDirectory(Root.Path, vh.Name, user, group); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                WriteError(Errors.Io(ErrorIds.CertificateInstallFailed, write: true, vh.Name, e.Message, e));
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
                WriteError(Errors.InvalidOperation(ErrorIds.AcmeFailed, ErrorCategory.InvalidResult, vh.Name, $"lego for {vh.Name} (as {user.Name}) failed with exit code {result.ExitCode}: {tail}"));
                continue;
            }
            changed |= PointAt(vh, result.CertificateFile, result.KeyFile);
            if (PassThru && Current(vh) is { } now) WriteObject(new CertificateInfo(CertificateReport.Describe(now, DateTime.UtcNow, Accounts)));
        }
        // New paths in a vhost need a reload; renewed files in place are picked up by the workers.
        if (Reload && changed) ReloadServer();
    }
}
