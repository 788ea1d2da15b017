using System.Management.Automation;
using ItkPs.Core.Config;

namespace ItkPs.Commands;

/// <summary>Get-ItkVhost: the vhosts of the configuration, as typed objects.</summary>
[Cmdlet(VerbsCommon.Get, "ItkVhost")]
[OutputType(typeof(VirtualHost))]
public sealed class GetItkVhostCommand : ItkCmdlet
{
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(VhostNameCompleter))]
    [SupportsWildcards]
    public string[]? Name { get; set; }

    private Core.Config.ServerConfig? _config;

    protected override void BeginProcessing()
    {
        _config = Root.Read();
        foreach (var e in _config.Errors)
            WriteWarning(e.ToString());
    }

    protected override void ProcessRecord()
    {
        if (Name is null) { WriteObject(_config!.VirtualHosts, enumerateCollection: true); return; }
        foreach (var n in Name)
        {
            var found = FindVhosts(_config!, n);
            if (found.Count == 0 && !WildcardPattern.ContainsWildcardCharacters(n))
                WriteError(Error(ErrorIds.VhostNotFound, ErrorCategory.ObjectNotFound, n,
                    $"No vhost named '{n}' in {Root.Path}. Get-ItkVhost without -Name lists them all."));
            WriteObject(found, enumerateCollection: true);
        }
    }
}
