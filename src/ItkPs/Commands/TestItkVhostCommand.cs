using System.Management.Automation;
using ItkPs.Core.Config;
using ItkPs.Core.Isolation;

namespace ItkPs.Commands;

/// <summary>
/// Test-ItkVhost: isolation audit of vhosts' DocumentRoots (and TLS keys). Each finding names the path,
/// the problem and the command that fixes it; no output means nothing was found.
/// </summary>
[Cmdlet(VerbsDiagnostic.Test, "ItkVhost")]
[OutputType(typeof(IsolationFinding))]
public sealed class TestItkVhostCommand : ItkCmdlet
{
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(VhostNameCompleter))]
    [SupportsWildcards]
    public string[]? Name { get; set; }

    private ServerConfig? _config;

    protected override void BeginProcessing() => _config = Root.Read();

    protected override void ProcessRecord()
    {
        foreach (var n in Name ?? ["*"])
        {
            var found = FindVhosts(_config!, n);
            if (found.Count == 0 && !WildcardPattern.ContainsWildcardCharacters(n))
                WriteError(Error(ErrorIds.VhostNotFound, ErrorCategory.ObjectNotFound, n, $"No vhost named '{n}' in {Root.Path}."));
            foreach (var vh in found)
            {
                WriteObject(IsolationAuditor.Audit(vh, Accounts), enumerateCollection: true);
                WriteObject(KeyAudit.Audit(vh, Accounts), enumerateCollection: true); // its TLS key, if it has one
            }
        }
    }
}
