using System.Management.Automation;
using ItkPs.Core.Hosting;
using Mono.Unix.Native;

namespace ItkPs.Commands;

/// <summary>
/// Stop-ItkServer: SIGTERM to the master, which lets the dispatcher stop accepting and the workers
/// finish in-flight requests; waits until it is gone. -Force kills the whole process group.
/// </summary>
[Cmdlet(VerbsLifecycle.Stop, "ItkServer", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(ServerStatus))]
public sealed class StopItkServerCommand : ServerCmdlet
{
    [Parameter] public SwitchParameter Force { get; set; }

    [Parameter]
    [ValidateRange(1, 3600)]
    public int TimeoutSeconds { get; set; } = 180;

    [Parameter] public SwitchParameter PassThru { get; set; }

    protected override void EndProcessing()
    {
        var status = RequireStatus();
        if (!ShouldProcess($"itkd {status.Pid} ({status.ConfigFile})", Force ? "Kill (SIGKILL, no draining)" : "Stop (SIGTERM; in-flight requests finish)")) return;
        if (Force) Syscall.kill(-Syscall.getpgid(status.Pid), Signum.SIGKILL);
        else Syscall.kill(status.Pid, Signum.SIGTERM);
        if (!WaitFor(() => !Alive(status.Pid), TimeSpan.FromSeconds(TimeoutSeconds)))
            WriteError(new ErrorRecord(new TimeoutException($"itkd {status.Pid} still runs after {TimeoutSeconds} s; use -Force."), "ServerStopTimeout", ErrorCategory.OperationTimeout, status));
        else if (PassThru) WriteObject(status);
    }
}
