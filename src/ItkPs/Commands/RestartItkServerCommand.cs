using System.Management.Automation;
using ItkPs.Core.Hosting;
using Mono.Unix.Native;

namespace ItkPs.Commands;

/// <summary>Reloads itkd's configuration (SIGHUP) without losing in-flight requests.</summary>
/// <remarks>
/// <para>itkd re-reads and validates its configuration. If it is valid, a new dispatcher takes over the listening sockets and the old workers finish their connections and exit; nothing is refused meanwhile. If it is not, the running configuration stays and this reports ReloadRejected with the errors (ReloadTimeout when the server reports no reload in time).</para>
/// </remarks>
/// <example>
/// <code>New-ItkVhost -Name new.example -DocumentRoot /srv/www/new -User new; Restart-ItkServer</code>
/// <para>Adds a site and serves it without a restart.</para>
/// </example>
/// <example>
/// <code>Get-ItkServer -ConfigRoot ./etc | Restart-ItkServer -PassThru | Select-Object Pid, Generation</code>
/// <para>Reloads the server started from ./etc and shows its new generation.</para>
/// </example>
/// <seealso cref="GetItkServerCommand"/>
/// <seealso cref="TestItkConfigCommand"/>
[Cmdlet(VerbsLifecycle.Restart, "ItkServer", SupportsShouldProcess = true, DefaultParameterSetName = "ControlSocket")]
[OutputType(typeof(ServerInfo))]
public sealed class RestartItkServerCommand : RunningServerCmdlet
{
    /// <summary>How long to wait for the reload to be reported, in seconds.</summary>
    [Parameter]
    [ValidateRange(1, 600)]
    public int TimeoutSeconds { get; set; } = 15;

    /// <summary>Writes the server after the reload.</summary>
    [Parameter] public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var before in Servers())
        {
            if (!ShouldProcess(Target(before), "Reload the configuration (SIGHUP)")) continue;
            Syscall.kill(before.Pid, Signum.SIGHUP);
            // Done when the server reports a reload newer than the one it had before.
            ServerStatus? after = null;
            bool reported = WaitFor(() => (after = TryStatus(before.ControlSocket)) is { } s && s.LastReloadAt is { } at && at != before.LastReloadAt,
                TimeSpan.FromSeconds(TimeoutSeconds));
            if (!reported || after is null)
            {
                WriteError(Errors.Timeout(ErrorIds.ReloadTimeout, new ServerInfo(before),
                    $"itkd {before.Pid} reported no reload within {TimeoutSeconds} s; it keeps generation {before.Generation}."));
                continue;
            }
            if (after.LastReloadOk != true)
            {
                WriteError(Errors.InvalidOperation(ErrorIds.ReloadRejected, ErrorCategory.InvalidData, before.ConfigFile,
                    $"itkd {before.Pid} kept generation {before.Generation}: {after.LastReloadMessage}"));
                continue;
            }
            if (PassThru) WriteObject(new ServerInfo(after));
        }
    }
}
