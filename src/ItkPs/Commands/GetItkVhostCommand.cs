using System.Management.Automation;
using ItkPs.Core.Config;

namespace ItkPs.Commands;

/// <summary>Lists the virtual hosts of the configuration.</summary>
/// <remarks>
/// <para>Reads itkps.conf and every file it includes (or the vhosts.d folder when there is no itkps.conf) and writes one object per &lt;VirtualHost&gt;: Name, Aliases, Listen, DocumentRoot, User and Group (AssignUserID, else the server's User/Group), MaxClients, Nice, Php, Cgi, File and Line. Configuration errors are written as warnings.</para>
/// <para>-Name matches ServerName and ServerAlias names, with wildcards.</para>
/// </remarks>
/// <example>
/// <code>Get-ItkVhost</code>
/// <para>All vhosts, as a table.</para>
/// </example>
/// <example>
/// <code>Get-ItkVhost 'www.*' | Where-Object User -eq 'www-data'</code>
/// <para>Vhosts with a www. alias (or name) that still run as the shared web user.</para>
/// </example>
/// <example>
/// <code>Get-ItkVhost shop.example.com | Format-List</code>
/// <para>Everything about one vhost, including the file and line it is written at.</para>
/// </example>
/// <seealso cref="SetItkVhostCommand"/>
/// <seealso cref="NewItkVhostCommand"/>
[Cmdlet(VerbsCommon.Get, "ItkVhost")]
[OutputType(typeof(VhostInfo))]
public sealed class GetItkVhostCommand : ItkCmdlet
{
    /// <summary>ServerName or ServerAlias patterns. A name without wildcards that matches nothing is an error (VhostNotFound).</summary>
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(VhostNameCompleter))]
    [Alias("ServerName")]
    [SupportsWildcards]
    [PSDefaultValue(Help = "every vhost")]
    public string[]? Name { get; set; }

    private ServerConfig? _config;

    protected override void BeginProcessing()
    {
        _config = Root.Read();
        foreach (var e in _config.Errors)
            WriteWarning(e.ToString());
    }

    protected override void ProcessRecord()
    {
        foreach (var n in Name ?? [null!])
        {
            var found = FindVhosts(_config!, n);
            if (found.Count == 0 && n is not null && !WildcardPattern.ContainsWildcardCharacters(n))
                WriteError(Errors.NotFound(ErrorIds.VhostNotFound, n,
                    $"No vhost named '{n}' in {Root.Path}. Get-ItkVhost without -Name lists them all."));
            foreach (var vh in found) WriteObject(new VhostInfo(vh));
        }
    }
}
