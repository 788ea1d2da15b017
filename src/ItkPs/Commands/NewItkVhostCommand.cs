using System.Management.Automation;
using ItkPs.Core.Config;
using ItkPs.Core.Hosting;

namespace ItkPs.Commands;

/// <summary>New-ItkVhost: writes one vhost file (Apache syntax) under the config root.</summary>
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

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string Listen { get; set; } = "*:80";

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
        if (!HostAddress.TryParse(Listen, false, out var listen, out var listenError) || listen!.Port is null)
        {
            WriteError(Error(ErrorIds.InvalidListen, ErrorCategory.InvalidArgument, Listen,
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
        if (!ShouldProcess(file, $"Create vhost {Name} ({listen}, {(User is null ? "server user" : $"{User}:{group}")}, {docRoot}{(Php == PhpMode.FastCgi ? ", PHP" : "")}{(Cgi ? ", CGI" : "")})")) return;

        try { root.EnsureMainFile(listen, Accounts); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            WriteError(Error(ErrorIds.ConfigWriteFailed, ErrorCategory.WriteError, root.MainFile, $"Cannot write '{root.MainFile}': {e.Message}", e));
            return;
        }
        if (!TryWrite(file, Core.Hosting.ConfigRoot.NewVhostText(spec), Name)) return;
        if (PassThru) WriteObject(ReadBack(Name));
    }
}
