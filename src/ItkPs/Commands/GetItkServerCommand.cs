using System.Management.Automation;
using ItkPs.Core.Hosting;

namespace ItkPs.Commands;

/// <summary>Get-ItkServer: pid, listeners, uptime and per-user pools of a running itkd (root only).</summary>
[Cmdlet(VerbsCommon.Get, "ItkServer")]
[OutputType(typeof(ServerStatus))]
public sealed class GetItkServerCommand : ServerCmdlet
{
    protected override void EndProcessing() => WriteObject(RequireStatus());
}
