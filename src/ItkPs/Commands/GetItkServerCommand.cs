using System.Management.Automation;

namespace ItkPs.Commands;

/// <summary>Shows a running itkd: pid, listeners, uptime and its per-user worker pools.</summary>
/// <remarks>
/// <para>Asks itkd on its root-only control socket. Each pool shows its user and group, workers and their pids, active connections, connections and requests served, spawns and crashes, and whether a crash loop holds it back.</para>
/// <para>A server that does not answer is a non-terminating error (ServerNotRunning), so -ErrorAction SilentlyContinue turns it into no output.</para>
/// </remarks>
/// <example>
/// <code>Get-ItkServer</code>
/// <para>The server of the default config root, as a table.</para>
/// </example>
/// <example>
/// <code>(Get-ItkServer -ConfigRoot ./etc).Pools</code>
/// <para>One row per user the server started from ./etc currently serves.</para>
/// </example>
/// <example>
/// <code>if (-not (Get-ItkServer -ErrorAction SilentlyContinue)) { Start-ItkServer }</code>
/// <para>Starts the server unless it already runs.</para>
/// </example>
/// <seealso cref="StartItkServerCommand"/>
/// <seealso cref="StopItkServerCommand"/>
[Cmdlet(VerbsCommon.Get, "ItkServer", DefaultParameterSetName = "ControlSocket")]
[OutputType(typeof(ServerInfo))]
public sealed class GetItkServerCommand : RunningServerCmdlet
{
    protected override void ProcessRecord()
    {
        foreach (var s in Servers()) WriteObject(new ServerInfo(s));
    }
}
