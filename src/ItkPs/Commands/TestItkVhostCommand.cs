using System.Management.Automation;
using ItkPs.Core.Config;
using ItkPs.Core.Isolation;

namespace ItkPs.Commands;

/// <summary>Audits the DocumentRoots of virtual hosts for files other users could read.</summary>
/// <remarks>
/// <para>Walks each DocumentRoot without following symlinks and reports what would break per-user isolation: files or directories readable by others (WorldReadable), writable by others, readable through a group that someone besides the vhost user belongs to, owned by another user, and symlinks pointing outside the DocumentRoot. Secrets (.htpasswd, .htaccess, PHP, configuration files) are marked Sensitive and High severity.</para>
/// <para>Each finding gives the command that fixes it; no output means nothing was found. Set-ItkUser -FixPermissions fixes them all.</para>
/// </remarks>
/// <example>
/// <code>Test-ItkVhost shop.example.com</code>
/// <para>Findings for one vhost.</para>
/// </example>
/// <example>
/// <code>Test-ItkVhost | Where-Object Sensitive | Format-Table Vhost, Path, Fix</code>
/// <para>Only exposed secrets, across all vhosts.</para>
/// </example>
/// <seealso cref="SetItkUserCommand"/>
[Cmdlet(VerbsDiagnostic.Test, "ItkVhost")]
[OutputType(typeof(IsolationFindingInfo))]
public sealed class TestItkVhostCommand : ItkCmdlet
{
    /// <summary>ServerName or ServerAlias patterns of the vhosts to audit.</summary>
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(VhostNameCompleter))]
    [Alias("ServerName")]
    [SupportsWildcards]
    [PSDefaultValue(Help = "every vhost")]
    public string[]? Name { get; set; }

    private ServerConfig? _config;

    protected override void BeginProcessing() => _config = Root.Read();

    protected override void ProcessRecord()
    {
        foreach (var n in Name ?? ["*"])
        {
            var found = FindVhosts(_config!, n);
            if (found.Count == 0 && !WildcardPattern.ContainsWildcardCharacters(n))
                WriteError(Errors.NotFound(ErrorIds.VhostNotFound, n, $"No vhost named '{n}' in {Root.Path}."));
            foreach (var vh in found)
                foreach (var finding in IsolationAuditor.Audit(vh, Accounts))
                    WriteObject(new IsolationFindingInfo(finding));
        }
    }
}
