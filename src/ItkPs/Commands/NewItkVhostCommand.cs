using System.Management.Automation;
using ItkPs.Core.Config;
using ItkPs.Core.Hosting;

namespace ItkPs.Commands;

/// <summary>
/// New-ItkVhost: writes one vhost file (Apache syntax) under the config root. With -CertificateFile
/// (and -KeyFile) or -Tls it writes a TLS vhost (port 443 unless -Listen says otherwise): SSLEngine
/// on, and the pair installed for the site as Set-ItkCertificate installs it (-Tls alone: the
/// paths where Set-ItkCertificate or Request-ItkCertificate will put it).
/// </summary>
[Cmdlet(VerbsCommon.New, "ItkVhost", SupportsShouldProcess = true)]
[OutputType(typeof(VirtualHost))]
public sealed class NewItkVhostCommand : ItkCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("ServerName")]
    [ValidateNotNullOrEmpty]
    public string Name { get; set; } = "";

    [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string DocumentRoot { get; set; } = "";

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("ServerAlias", "Aliases")]
    public string[] Alias { get; set; } = [];

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(UserNameCompleter))]
    public string? User { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    public string? Group { get; set; }

    /// <summary>The vhost's address; *:80, or *:443 for a TLS vhost.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? Listen { get; set; }

    /// <summary>A TLS vhost: SSLEngine on on port 443 (or -Listen's), certificate and key in the site's folder.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public SwitchParameter Tls { get; set; }

    /// <summary>The certificate (PEM: leaf, optionally its chain, optionally its key) to install for the site; implies -Tls.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? CertificateFile { get; set; }

    /// <summary>The private key (PEM, unencrypted) of -CertificateFile, when it is not in that file.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? KeyFile { get; set; }

    /// <summary>More intermediate certificates, appended to the installed certificate file.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? ChainFile { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateRange(1, int.MaxValue)]
    public int? MaxClients { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateRange(-20, 19)]
    public int? Nice { get; set; }

    /// <summary>FastCgi: .php runs as the vhost user (mod_php's SetHandler form; itkd's php-cgi pool).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public PhpMode Php { get; set; } = PhpMode.Off;

    /// <summary>Runs *.cgi programs (Options +ExecCGI, AddHandler cgi-script .cgi).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public SwitchParameter Cgi { get; set; }

    [Parameter] public SwitchParameter Force { get; set; }
    [Parameter] public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        var root = Root;
        if (!Core.Hosting.ConfigRoot.IsValidServerName(Name))
        {
            WriteError(Error(ErrorIds.InvalidServerName, ErrorCategory.InvalidArgument, Name,
                $"-Name '{Name}' is not a host name (letters, digits, '-' and dots, e.g. shop.example.com)."));
            return;
        }
        foreach (var a in Alias)
        {
            if (Core.Hosting.ConfigRoot.IsValidAlias(a)) continue;
            WriteError(Error(ErrorIds.InvalidAlias, ErrorCategory.InvalidArgument, a,
                $"-Alias '{a}' is not a host name or a wildcard like *.example.com."));
            return;
        }
        bool tls = Tls || CertificateFile is not null;
        string listenText = Listen ?? (tls ? "*:443" : "*:80");
        if (!HostAddress.TryParse(listenText, false, out var listen, out var listenError) || listen!.Port is null)
        {
            WriteError(Error(ErrorIds.InvalidListen, ErrorCategory.InvalidArgument, listenText,
                $"-Listen '{Listen}': {listenError ?? "give a port, e.g. *:80 or 127.0.0.1:8080"}"));
            return;
        }
        string docRoot = ResolvePath(DocumentRoot);
        string? group = User is null ? null : Group ?? PrimaryGroup(User);
        if (User is not null && !CheckIdentity(User, group!, Name)) return;
        if (User is null && Group is not null)
        {
            WriteError(Error(ErrorIds.UserNotFound, ErrorCategory.InvalidArgument, Name, "-Group needs -User: AssignUserID names both."));
            return;
        }

        if (KeyFile is not null && CertificateFile is null || ChainFile is not null && CertificateFile is null)
        {
            WriteError(Error(ErrorIds.CertificateInvalid, ErrorCategory.InvalidArgument, Name, "-KeyFile and -ChainFile go with -CertificateFile."));
            return;
        }
        if (tls && User is null)
        {
            WriteError(Error(ErrorIds.TlsNeedsUser, ErrorCategory.InvalidArgument, Name,
                "A TLS vhost needs -User: its key belongs to the site's user, whose worker alone reads it."));
            return;
        }
        Core.Tls.CertificatePair? pair = null;
        if (CertificateFile is not null)
        {
            try { pair = Core.Tls.CertificateStore.Read(ResolvePath(CertificateFile), KeyFile is null ? null : ResolvePath(KeyFile), ChainFile is null ? null : ResolvePath(ChainFile)); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
            {
                WriteError(Error(ErrorIds.CertificateInvalid, ErrorCategory.InvalidData, CertificateFile, e.Message, e));
                return;
            }
            foreach (var n in new[] { Name }.Concat(Alias).Where(n => !pair.Leaf.MatchesHostname(n)))
                WriteWarning($"The certificate ({pair.Leaf.Subject}) does not cover '{n}': clients will refuse it for that name.");
        }

        string file = root.VhostFile(Name);
        var config = root.Read();
        var clash = config.VirtualHosts.FirstOrDefault(v =>
            VhostSelector.Matches(v, Name.ToLowerInvariant()) && v.Addresses.Any(a => a.Port == listen.Port)
            && !string.Equals(Path.GetFullPath(v.File), file, StringComparison.Ordinal));
        if (clash is not null)
        {
            WriteError(Error(ErrorIds.VhostExists, ErrorCategory.ResourceExists, Name,
                $"'{Name}' on port {listen.Port} is already served by the vhost at {clash.File}:{clash.Line}. Use Set-ItkVhost to change it."));
            return;
        }
        if (File.Exists(file) && !Force)
        {
            WriteError(Error(ErrorIds.VhostFileExists, ErrorCategory.ResourceExists, file,
                $"'{file}' already exists. Use Set-ItkVhost to change it, or -Force to replace it (the old file is kept as .bak)."));
            return;
        }
        if (!Directory.Exists(docRoot))
            WriteWarning($"DocumentRoot '{docRoot}' does not exist yet; create it before the vhost is served.");

        var spec = new VhostSpec(Name, docRoot, Alias, User, group, listen, MaxClients, Nice, Php, Cgi);
        if (!ShouldProcess(file, $"Create vhost {Name} ({listen}{(tls ? ", TLS" : "")}, {(User is null ? "server user" : $"{User}:{group}")}, {docRoot}{(Php == PhpMode.FastCgi ? ", PHP" : "")}{(Cgi ? ", CGI" : "")})")) return;

        string text = Core.Hosting.ConfigRoot.NewVhostText(spec);
        if (tls)
        {
            string site = Core.Tls.CertificateStore.SiteDirectory(root.Path, Name);
            var paths = (Cert: Path.Combine(site, Core.Tls.CertificateStore.CertificateName), Key: Path.Combine(site, Core.Tls.CertificateStore.KeyName));
            if (pair is not null)
            {
                try
                {
                    var installed = Core.Tls.CertificateStore.Install(root.Path, Name, Accounts.FindUser(User!)!, Accounts.FindGroup(group!)!, pair);
                    paths = (installed.CertificateFile, installed.KeyFile);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    WriteError(Error(ErrorIds.CertificateInstallFailed, ErrorCategory.WriteError, Name, e.Message, e));
                    return;
                }
            }
            else WriteWarning($"{Name} has no certificate yet: its TLS handshakes fail until Set-ItkCertificate or Request-ItkCertificate installs one in {site}.");
            text = Core.Tls.TlsVhostText.NewVhostText(spec, file, paths.Cert, paths.Key);
        }

        try
        {
            if (tls) Core.Tls.TlsVhostText.EnsureTlsListen(root, listen, Accounts);
            root.EnsureMainFile(listen, Accounts);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            WriteError(Error(ErrorIds.ConfigWriteFailed, ErrorCategory.WriteError, root.MainFile, $"Cannot write '{root.MainFile}': {e.Message}", e));
            return;
        }
        if (!TryWrite(file, text, Name)) return;
        if (PassThru) WriteObject(ReadBack(Name));
    }
}
