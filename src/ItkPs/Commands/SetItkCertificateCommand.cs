using System.Management.Automation;
using ItkPs.Core.Config;
using ItkPs.Core.Tls;

namespace ItkPs.Commands;

/// <summary>
/// Set-ItkCertificate: installs a certificate and its key for a site. The pair is checked (the key
/// is the certificate's, unencrypted), copied atomically into the site's folder
/// (&lt;config root&gt;/tls/&lt;vhost&gt;/, owned by the site's user, 0700; key.pem 0600, cert.pem with the
/// chain), and the vhost is pointed at it. A running itkd serves the new files within seconds
/// (the worker notices the change); -Reload is for a vhost that pointed elsewhere before.
/// </summary>
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
    public string? KeyFile { get; set; }

    /// <summary>More intermediate certificates, appended to the installed certificate file.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? ChainFile { get; set; }

    private CertificatePair? _pair;

    protected override void BeginProcessing()
    {
        try { _pair = CertificateStore.Read(ResolvePath(CertificateFile), KeyFile is null ? null : ResolvePath(KeyFile), ChainFile is null ? null : ResolvePath(ChainFile)); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            Fail(ErrorIds.CertificateInvalid, ErrorCategory.InvalidData, CertificateFile, e.Message, e);
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
                WriteError(Error(ErrorIds.TlsNeedsUser, ErrorCategory.InvalidArgument, vh,
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
                WriteError(Error(ErrorIds.CertificateInstallFailed, ErrorCategory.WriteError, vh, e.Message, e));
                continue;
            }
            PointAt(vh, installed.CertificateFile, installed.KeyFile);
            if (PassThru && Reread(vh) is { } now) WriteObject(CertificateReport.Describe(now, DateTime.UtcNow));
        }
        if (Reload) ReloadServer();
    }
}
