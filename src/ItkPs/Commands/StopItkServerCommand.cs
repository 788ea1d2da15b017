using System.Management.Automation;
using Mono.Unix.Native;

namespace ItkPs.Commands;

/// <summary>Stops itkd gracefully: in-flight requests finish.</summary>
/// <remarks>
/// <para>Sends SIGTERM to the master: the dispatcher stops accepting, the workers finish the requests they have and exit, then the master exits. Waits until it is gone. -Force kills the whole process group at once. ConfirmImpact is High.</para>
/// <para>Takes servers from the pipeline (Start-ItkServer -PassThru, Get-ItkServer), or -ConfigRoot, or -ControlSocket. A server that does not answer is a non-terminating error (ServerNotRunning): the others are still stopped, and -ErrorAction SilentlyContinue makes "stop it if it runs".</para>
/// </remarks>
/// <example>
/// <code>Stop-ItkServer -Confirm:$false</code>
/// <para>Stops the server of the default config root.</para>
/// </example>
/// <example>
/// <code>Stop-ItkServer -ConfigRoot ./etc -Confirm:$false -ErrorAction SilentlyContinue</code>
/// <para>Stops the server started from ./etc, if one runs.</para>
/// </example>
/// <example>
/// <code>Start-ItkServer -ConfigRoot ./etc -PassThru | Stop-ItkServer -Force -Confirm:$false</code>
/// <para>Stops exactly the server just started.</para>
/// </example>
/// <seealso cref="StartItkServerCommand"/>
/// <seealso cref="RestartItkServerCommand"/>
[Cmdlet(VerbsLifecycle.Stop, "ItkServer", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High, DefaultParameterSetName = "ControlSocket")]
[OutputType(typeof(ServerInfo))]
public sealed class StopItkServerCommand : RunningServerCmdlet
{
    /// <summary>Kill (SIGKILL) the master, dispatcher and workers without draining.</summary>
    [Parameter] public SwitchParameter Force { get; set; }

    /// <summary>How long to wait for the server to exit, in seconds.</summary>
    [Parameter]
    [ValidateRange(1, 3600)]
    public int TimeoutSeconds { get; set; } = 180;

    /// <summary>Writes the server as it was before it stopped.</summary>
    [Parameter] public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var status in Servers())
        {
            if (!ShouldProcess(Target(status), Force ? "Kill (SIGKILL, no draining)" : "Stop (SIGTERM; in-flight requests finish)")) continue;
            if (Force) Syscall.kill(-Syscall.getpgid(status.Pid), Signum.SIGKILL);
            else Syscall.kill(status.Pid, Signum.SIGTERM);
            if (!WaitFor(() => !Alive(status.Pid), TimeSpan.FromSeconds(TimeoutSeconds)))
                WriteError(Errors.Timeout(ErrorIds.ServerStopTimeout, new ServerInfo(status), $"itkd {status.Pid} still runs after {TimeoutSeconds} s; use -Force."));
            else if (PassThru) WriteObject(new ServerInfo(status));
        }
    }
}
