using System.Management.Automation;
using ItkPs.Core.Config;
using ItkPs.Core.Tls;

namespace ItkPs.Commands;

/// <summary>Installs a certificate and its private key for a site.</summary>
/// <remarks>
/// <para>Reads the certificate (PEM: the leaf first, then optionally its chain and its key), the key (PEM, unencrypted) and an optional chain file, and checks that the key is the leaf's. Copies the pair atomically into the site's folder &lt;config root&gt;/tls/&lt;vhost&gt;/ — owned by the vhost's user, mode 0700, key.pem 0600, cert.pem with the chain — and points the TLS vhost of that name at it (SSLEngine on, SSLCertificateFile, SSLCertificateKeyFile). Root writes there only through a descriptor of the checked folder (openat with O_NOFOLLOW and O_EXCL, then renameat): whatever the site put in its folder, root never writes elsewhere, and a reader sees the old file or the new one.</para>
/// <para>A running itkd serves the new pair within seconds without a restart: the site's worker notices the changed files and loads them as the site's user; a pair that does not load leaves the old one serving and the log says why. -Reload is for a vhost that pointed at other files before. Warns when the certificate does not cover the vhost's names. Errors: CertificateInvalid, CertificateInstallFailed, NotTlsVhost, TlsNeedsUser, ReloadRejected.</para>
/// </remarks>
/// <example>
/// <code>Set-ItkCertificate -Name shop.example.com -CertificateFile shop.crt -KeyFile shop.key</code>
/// <para>Installs the pair for the shop's user; the vhost serves /etc/itkps/tls/shop.example.com/cert.pem and key.pem.</para>
/// </example>
/// <example>
/// <code>Set-ItkCertificate -Name shop.example.com -CertificateFile shop.pem -Reload -PassThru</code>
/// <para>A combined PEM (chain and key in one file), and a reload because the vhost pointed at other files before.</para>
/// </example>
/// <seealso cref="GetItkCertificateCommand"/>
/// <seealso cref="RequestItkCertificateCommand"/>
[Cmdlet(VerbsCommon.Set, "ItkCertificate", SupportsShouldProcess = true, DefaultParameterSetName = "Name")]
[OutputType(typeof(CertificateInfo))]
public sealed class SetItkCertificateCommand : CertificateCmdlet
{
    /// <summary>The certificate (PEM): the leaf first, optionally its chain and its key.</summary>
    [Parameter(Mandatory = true)]
    [ValidateNotNullOrEmpty]
    public string CertificateFile { get; set; } = "";

    /// <summary>The private key (PEM, unencrypted), when it is not in -CertificateFile.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [PSDefaultValue(Help = "the key in -CertificateFile")]
    public string? KeyFile { get; set; }

    /// <summary>More intermediate certificates, appended to the installed certificate file.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [PSDefaultValue(Help = "no more intermediates")]
    public string? ChainFile { get; set; }

    private CertificatePair? _pair;

    protected override void BeginProcessing()
    {
        try { _pair = CertificateStore.Read(ResolvePath(CertificateFile), KeyFile is null ? null : ResolvePath(KeyFile), ChainFile is null ? null : ResolvePath(ChainFile)); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            ThrowTerminatingError(Errors.Failed(ErrorIds.CertificateInvalid, ErrorCategory.InvalidData, CertificateFile, e, e.Message));
        }
    }

    protected override void ProcessRecord()
    {
        var pair = _pair!;
        foreach (var vh in TlsTargets())
        {
            var user = vh.User is null ? null : Accounts.FindUser(vh.User);
            var group = vh.Group is null ? null : Accounts.FindGroup(vh.Group);
            if (user is null || group is null || user.Uid == 0)
            {
                WriteError(Errors.InvalidOperation(ErrorIds.TlsNeedsUser, ErrorCategory.InvalidArgument, vh.Name,
                    $"{vh.Name} runs as '{vh.User}:{vh.Group}', which is not a site's own account: its key must belong to the site's user (Set-ItkUser -Name {vh.Name} -User …)."));
                continue;
            }
            foreach (var n in new[] { vh.Name }.Concat(vh.Aliases).Where(n => n.Length > 0 && !pair.Leaf.MatchesHostname(n)))
                WriteWarning($"The certificate ({pair.Leaf.Subject}) does not cover '{n}' of {vh.Name}: clients will refuse it for that name.");
            string site = CertificateStore.SiteDirectory(Root.Path, vh.Name);
            if (!ShouldProcess($"{vh.Name} ({vh.File})", $"Install {pair.Leaf.Subject} (serial {pair.Leaf.SerialNumber}, until {pair.Leaf.NotAfter:yyyy-MM-dd}) into {site}, owned by {user.Name}, and point the vhost at it")) continue;
            InstalledPair installed;
            try { installed = CertificateStore.Install(Root.Path, vh.Name, user, group, pair); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                WriteError(Errors.Io(ErrorIds.CertificateInstallFailed, write: true, vh.Name, e.Message, e));
                continue;
            }
            PointAt(vh, installed.CertificateFile, installed.KeyFile);
            if (PassThru && Current(vh) is { } now) WriteObject(new CertificateInfo(CertificateReport.Describe(now, DateTime.UtcNow, Accounts)));
        }
        if (Reload) ReloadServer();
    }
}
