using System.Management.Automation;
using System.Security.Cryptography;
using System.Text;
using ItkPs.Core.Hosting;

namespace ItkPs.Commands;

/// <summary>Common ground of the itkd cmdlets: which control socket serves which configuration, and waiting.</summary>
public abstract class ServerCmdlet : PSCmdlet
{
    protected string ResolvePath(string path) => SessionState.Path.GetUnresolvedProviderPathFromPSPath(path);

    /// <summary>
    /// The control socket Start-ItkServer gives a server of this main configuration file when
    /// no -ControlSocket is named, so the other server cmdlets find it from -ConfigRoot alone:
    /// itkd's own default for /etc/itkps, else one named after a hash of the file's full path.
    /// </summary>
    internal static string SocketFor(string configFile)
    {
        string full = Path.GetFullPath(configFile);
        if (full == Path.Combine(ConfigRoot.DefaultPath, ConfigRoot.MainFileName)) return ServerControl.DefaultSocket;
        string hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(full)))[..12];
        return Path.Combine(Path.GetDirectoryName(ServerControl.DefaultSocket)!, $"itkd-{hash}.sock");
    }

    /// <summary>The main file of a config root given as typed (relative to $PWD), or of the default root.</summary>
    protected string MainFileOf(string? configRoot) =>
        Path.GetFullPath(ConfigRoot.Resolve(configRoot is null ? null : ResolvePath(configRoot)).MainFile);

    protected static ServerStatus? TryStatus(string socket) => ServerControl.TryStatus(socket, TimeSpan.FromSeconds(5));

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

/// <summary>
/// Base of Get-, Stop- and Restart-ItkServer: a server named by its control socket, by the
/// config root it was started from, or by a server object from the pipeline (as Stop-Process
/// takes -Id, -Name or Process objects). Each server that does not answer is one
/// non-terminating ServerNotRunning error; the others are acted on.
/// </summary>
public abstract class RunningServerCmdlet : ServerCmdlet
{
    /// <summary>itkd's root-only control socket. Binds the ControlSocket property of piped objects.</summary>
    [Parameter(ParameterSetName = "ControlSocket", ValueFromPipelineByPropertyName = true)]
    [Parameter(ParameterSetName = "ConfigRoot")]
    [ValidateNotNullOrEmpty]
    [PSDefaultValue(Help = "the socket Start-ItkServer gives the config root's server (/run/itkd/itkd.sock for /etc/itkps)")]
    public string? ControlSocket { get; set; }

    /// <summary>The config root the server was started from: finds the server that serves its itkps.conf.</summary>
    [Parameter(Mandatory = true, ParameterSetName = "ConfigRoot")]
    [ValidateNotNullOrEmpty]
    public string ConfigRoot { get; set; } = "";

    /// <summary>Servers from Start-, Get- or Restart-ItkServer.</summary>
    [Parameter(Mandatory = true, ParameterSetName = "InputObject", ValueFromPipeline = true)]
    public ServerInfo[] InputObject { get; set; } = [];

    /// <summary>The servers this call names, each asked now; ServerNotRunning for each that is gone.</summary>
    protected IEnumerable<ServerStatus> Servers()
    {
        if (ParameterSetName == "InputObject")
        {
            foreach (var s in InputObject)
            {
                var now = TryStatus(s.ControlSocket);
                // Another server on the same socket is not the one the object describes.
                if (now is not null && now.Pid == s.Pid) yield return now;
                else WriteError(Errors.NotFound(ErrorIds.ServerNotRunning, s, $"itkd {s.Pid} ({s.ConfigFile}) no longer answers on {s.ControlSocket}."));
            }
            yield break;
        }

        string? config = ParameterSetName == "ConfigRoot" ? MainFileOf(ConfigRoot) : null;
        string socket = ControlSocket is not null ? ResolvePath(ControlSocket) : SocketFor(config ?? MainFileOf(null));
        var status = TryStatus(socket);
        if (status is null)
            WriteError(Errors.NotFound(ErrorIds.ServerNotRunning, socket,
                $"No itkd answers on {socket}{(config is null ? "" : $" for {config}")}. Start one with Start-ItkServer{(config is null ? ", or give -ControlSocket or -ConfigRoot" : "")}."));
        else if (config is not null && Path.GetFullPath(status.ConfigFile) != config)
            WriteError(Errors.NotFound(ErrorIds.ServerNotRunning, socket,
                $"The itkd on {socket} serves {status.ConfigFile}, not {config}."));
        else yield return status;
    }

    protected static string Target(ServerStatus s) => $"itkd {s.Pid} ({s.ConfigFile})";
}
