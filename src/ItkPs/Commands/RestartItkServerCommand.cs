using System.Management.Automation;
using ItkPs.Core.Hosting;
using Mono.Unix.Native;

namespace ItkPs.Commands;

/// <summary>
/// Restart-ItkServer: SIGHUP. itkd re-reads its configuration; if it is valid a new dispatcher
/// takes the listeners and the old workers drain, so no in-flight request is lost; if not,
/// the running configuration stays and this reports ReloadRejected.
/// </summary>
[Cmdlet(VerbsLifecycle.Restart, "ItkServer", SupportsShouldProcess = true)]
[OutputType(typeof(ServerStatus))]
public sealed class RestartItkServerCommand : ServerCmdlet
{
    [Parameter]
    [ValidateRange(1, 600)]
    public int TimeoutSeconds { get; set; } = 15;

    [Parameter] public SwitchParameter PassThru { get; set; }

    protected override void EndProcessing()
    {
        var before = RequireStatus();
        if (!ShouldProcess($"itkd {before.Pid} ({before.ConfigFile})", "Reload the configuration (SIGHUP)")) return;
        Syscall.kill(before.Pid, Signum.SIGHUP);
        // Done when the server reports a reload newer than the one it had before.
        ServerStatus? after = null;
        WaitFor(() => (after = TryStatus()) is { } s && s.LastReloadAt is { } at && at != before.LastReloadAt, TimeSpan.FromSeconds(TimeoutSeconds));
        if (after is null || after.LastReloadOk != true)
        {
            string why = after?.LastReloadOk == false && after.LastReloadAt != before.LastReloadAt ? after.LastReloadMessage! : $"no reload reported within {TimeoutSeconds} s";
            WriteError(new ErrorRecord(new InvalidOperationException($"itkd {before.Pid} kept generation {before.Generation}: {why}"),
                "ReloadRejected", ErrorCategory.InvalidData, before.ConfigFile));
            return;
        }
        if (PassThru) WriteObject(after);
    }
}
