using System.Management.Automation;
using ItkPs.Core.Config;
using ItkPs.Core.Hosting;

namespace ItkPs.Commands;

/// <summary>Creates a virtual host file in Apache syntax, for Apache + mpm-itk and itkd.</summary>
/// <remarks>
/// <para>Writes vhosts.d/&lt;Name&gt;.conf under the config root, atomically, with ServerName, ServerAlias, DocumentRoot, AssignUserID, MaxClientsVHost, NiceValue and a &lt;Directory&gt; block. Creates itkps.conf on first use and adds a Listen line for the port if none covers it.</para>
/// <para>Refuses to replace an existing file unless -Force is given (the old file is kept as .bak), and refuses a name already served on the same port by another file. The user and group must exist and may not be root. Takes objects with Name, DocumentRoot, User and the other parameters as properties from the pipeline (Import-Csv rows).</para>
/// </remarks>
/// <example>
/// <code>New-ItkVhost -Name shop.example.com -DocumentRoot /srv/www/shop -Alias www.shop.example.com -User shop -MaxClients 20</code>
/// <para>Creates /etc/itkps/vhosts.d/shop.example.com.conf; requests for the shop run as the user shop.</para>
/// </example>
/// <example>
/// <code>Import-Csv customers.csv | New-ItkVhost -ConfigRoot /etc/itkps -WhatIf</code>
/// <para>Shows the vhosts a CSV with Name, DocumentRoot and User columns would create.</para>
/// </example>
/// <example>
/// <code>New-ItkVhost -Name blog.example.com -DocumentRoot /srv/www/blog -User blog -Php FastCgi -Cgi</code>
/// <para>A vhost whose .php files and *.cgi programs run as the user blog, under Apache + mpm-itk + mod_php and under itkd alike.</para>
/// </example>
/// <seealso cref="SetItkVhostCommand"/>
/// <seealso cref="SetItkUserCommand"/>
[Cmdlet(VerbsCommon.New, "ItkVhost", SupportsShouldProcess = true)]
[OutputType(typeof(VhostInfo))]
public sealed class NewItkVhostCommand : ItkCmdlet
{
    /// <summary>The ServerName of the vhost, e.g. shop.example.com. Also names the file.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("ServerName")]
    [ValidateNotNullOrEmpty]
    public string Name { get; set; } = "";

    /// <summary>The directory the vhost serves. A warning is written when it does not exist yet.</summary>
    [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string DocumentRoot { get; set; } = "";

    /// <summary>ServerAlias names; wildcards like *.example.com are allowed.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("ServerAlias", "Aliases")]
    [PSDefaultValue(Help = "no alias")]
    public string[] Alias { get; set; } = [];

    /// <summary>The user the vhost runs as (AssignUserID).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(UserNameCompleter))]
    [PSDefaultValue(Help = "none: the vhost runs as the server's User")]
    public string? User { get; set; }

    /// <summary>The group for AssignUserID; needs -User.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(GroupNameCompleter))]
    [PSDefaultValue(Help = "the primary group of -User")]
    public string? Group { get; set; }

    /// <summary>The &lt;VirtualHost&gt; address, *:port or ip:port.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string Listen { get; set; } = "*:80";

    /// <summary>MaxClientsVHost: the most simultaneous requests for this vhost; over it clients get 503.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateRange(1, int.MaxValue)]
    [PSDefaultValue(Help = "no limit")]
    public int? MaxClients { get; set; }

    /// <summary>NiceValue for the processes serving the vhost.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateRange(-20, 19)]
    [PSDefaultValue(Help = "none: the server's own priority")]
    public int? Nice { get; set; }

    /// <summary>FastCgi runs .php files as the vhost user: writes &lt;FilesMatch "\.php$"&gt; SetHandler application/x-httpd-php &lt;/FilesMatch&gt; (mod_php's form under Apache; itkd hands it to the user's php-cgi processes) and DirectoryIndex index.php index.html. Off writes no PHP handler.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public PhpMode Php { get; set; } = PhpMode.Off;

    /// <summary>Runs *.cgi programs as the vhost user: writes Options +ExecCGI and AddHandler cgi-script .cgi.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public SwitchParameter Cgi { get; set; }

    /// <summary>Replaces an existing vhost file; the old one is kept as &lt;file&gt;.bak.</summary>
    [Parameter] public SwitchParameter Force { get; set; }

    /// <summary>Writes the new vhost, as read back from its file, to the pipeline.</summary>
    [Parameter] public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        var root = Root;
        if (!Core.Hosting.ConfigRoot.IsValidServerName(Name))
        {
            WriteError(Errors.InvalidArgument(ErrorIds.InvalidServerName, nameof(Name), Name,
                $"-Name '{Name}' is not a host name (letters, digits, '-' and dots, e.g. shop.example.com)."));
            return;
        }
        foreach (var a in Alias)
        {
            if (Core.Hosting.ConfigRoot.IsValidAlias(a)) continue;
            WriteError(Errors.InvalidArgument(ErrorIds.InvalidAlias, nameof(Alias), a,
                $"-Alias '{a}' is not a host name or a wildcard like *.example.com."));
            return;
        }
        if (!HostAddress.TryParse(Listen, false, out var listen, out var listenError) || listen!.Port is null)
        {
            WriteError(Errors.InvalidArgument(ErrorIds.InvalidListen, nameof(Listen), Listen,
                $"-Listen '{Listen}': {listenError ?? "give a port, e.g. *:80 or 127.0.0.1:8080"}"));
            return;
        }
        if (User is null && Group is not null)
        {
            WriteError(GroupNeedsUser(Group));
            return;
        }
        string docRoot = ResolvePath(DocumentRoot);
        string? group = User is null ? null : Group ?? PrimaryGroup(User);
        if (User is not null && !CheckIdentity(User, group!, Name)) return;

        string file = root.VhostFile(Name);
        var config = root.Read();
        var clash = config.VirtualHosts.FirstOrDefault(v =>
            VhostSelector.Matches(v, Name.ToLowerInvariant()) && v.Addresses.Any(a => a.Port == listen.Port)
            && !string.Equals(Path.GetFullPath(v.File), file, StringComparison.Ordinal));
        if (clash is not null)
        {
            WriteError(Errors.Exists(ErrorIds.VhostExists, Name,
                $"'{Name}' on port {listen.Port} is already served by the vhost at {clash.File}:{clash.Line}. Use Set-ItkVhost to change it."));
            return;
        }
        if (File.Exists(file) && !Force)
        {
            WriteError(Errors.FileExists(ErrorIds.VhostFileExists, file,
                $"'{file}' already exists. Use Set-ItkVhost to change it, or -Force to replace it (the old file is kept as .bak)."));
            return;
        }

        var spec = new VhostSpec(Name, docRoot, Alias, User, group, listen, MaxClients, Nice, Php, Cgi);
        if (!ShouldProcess(file, $"Create vhost {Name} ({listen}, {(User is null ? "server user" : $"{User}:{group}")}, {docRoot}{(Php == PhpMode.FastCgi ? ", PHP" : "")}{(Cgi ? ", CGI" : "")})")) return;
        if (!Directory.Exists(docRoot))
            WriteWarning($"DocumentRoot '{docRoot}' does not exist yet; create it before the vhost is served.");

        try { root.EnsureMainFile(listen, Accounts); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            WriteError(Errors.Io(ErrorIds.ConfigWriteFailed, write: true, root.MainFile, $"Cannot write '{root.MainFile}': {e.Message}", e));
            return;
        }
        if (!TryWrite(file, Core.Hosting.ConfigRoot.NewVhostText(spec), Name)) return;
        if (PassThru) WriteObject(ReadBack(Name));
    }
}
