using System.Management.Automation;
using ItkPs.Core.Hosting;

namespace ItkPs.Commands;

/// <summary>Common ground of the itkd cmdlets: the control socket and the status it answers.</summary>
public abstract class ServerCmdlet : PSCmdlet
{
    /// <summary>itkd's root-only control socket.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string ControlSocket { get; set; } = ServerControl.DefaultSocket;

    protected string SocketPath => SessionState.Path.GetUnresolvedProviderPathFromPSPath(ControlSocket);

    protected ServerStatus? TryStatus() => ServerControl.TryStatus(SocketPath, TimeSpan.FromSeconds(5));

    protected ServerStatus RequireStatus()
    {
        var status = TryStatus();
        if (status is null)
            ThrowTerminatingError(new ErrorRecord(new InvalidOperationException($"No itkd answers on {SocketPath}. Start one with Start-ItkServer, or give -ControlSocket."),
                "ServerNotRunning", ErrorCategory.ResourceUnavailable, SocketPath));
        return status!;
    }

    protected static bool Alive(int pid)
    {
        try { return !System.Diagnostics.Process.GetProcessById(pid).HasExited; }
        catch (ArgumentException) { return false; }
    }

    /// <summary>Waits until a condition holds, polling; false when the time runs out.</summary>
    protected static bool WaitFor(Func<bool> condition, TimeSpan timeout)
    {
        var end = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < end)
        {
            if (condition()) return true;
            Thread.Sleep(50);
        }
        return condition();
    }
}
