using System.Diagnostics;
using System.Management.Automation;
using ItkPs.Core.Hosting;

namespace ItkPs.Commands;

/// <summary>Starts itkd detached and returns once it is listening.</summary>
/// <remarks>
/// <para>Runs itkd in a session of its own (it outlives the PowerShell that started it) with its output appended to -LogPath, then waits until it answers on its control socket. If itkd refuses the configuration (uid/gid 0, ids outside LimitUIDRange/LimitGIDRange, unknown user, missing DocumentRoot, port in use) this fails with ServerStartFailed and the server's own error lines, which name file and line.</para>
/// <para>Without -ControlSocket the server of /etc/itkps answers on /run/itkd/itkd.sock and that of any other config root on a socket of its own in /run/itkd, so Get-, Stop- and Restart-ItkServer -ConfigRoot find it. -PassThru writes the server, which pipes into Stop-ItkServer and Restart-ItkServer.</para>
/// </remarks>
/// <example>
/// <code>Start-ItkServer -PassThru</code>
/// <para>Serves /etc/itkps/itkps.conf and shows pid and listeners.</para>
/// </example>
/// <example>
/// <code>$s = Start-ItkServer -ConfigRoot ./etc -LogPath ./itkd.log -PassThru; $s | Stop-ItkServer -Confirm:$false</code>
/// <para>Starts a server for a config root of its own and stops exactly that one.</para>
/// </example>
/// <seealso cref="StopItkServerCommand"/>
/// <seealso cref="GetItkServerCommand"/>
/// <seealso cref="RestartItkServerCommand"/>
[Cmdlet(VerbsLifecycle.Start, "ItkServer", SupportsShouldProcess = true, DefaultParameterSetName = "ConfigRoot")]
[OutputType(typeof(ServerInfo))]
public sealed class StartItkServerCommand : ServerCmdlet
{
    /// <summary>The config root whose itkps.conf to serve.</summary>
    [Parameter(ParameterSetName = "ConfigRoot")]
    [ValidateNotNullOrEmpty]
    [PSDefaultValue(Help = "$env:ITKPS_CONFIG_ROOT, else /etc/itkps")]
    public string? ConfigRoot { get; set; }

    /// <summary>A main configuration file to serve instead of a config root's itkps.conf.</summary>
    [Parameter(Mandatory = true, ParameterSetName = "ConfigPath")]
    [ValidateNotNullOrEmpty]
    public string ConfigPath { get; set; } = "";

    /// <summary>itkd's root-only control socket.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [PSDefaultValue(Help = "/run/itkd/itkd.sock for /etc/itkps, else /run/itkd/itkd-<hash of the configuration's path>.sock")]
    public string? ControlSocket { get; set; }

    /// <summary>Where itkd's log is appended.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string LogPath { get; set; } = "/var/log/itkd.log";

    /// <summary>The itkd executable.</summary>
    [Parameter]
    [PSDefaultValue(Help = "the one shipped in the module folder (itkd/itkd)")]
    public string? ItkdPath { get; set; }

    /// <summary>How long to wait for itkd to answer, in seconds.</summary>
    [Parameter]
    [ValidateRange(1, 600)]
    public int TimeoutSeconds { get; set; } = 30;

    /// <summary>Seconds a user's worker may sit without connections before itkd retires it (a cold start costs ~20 ms); ItkdIdleTimeout in the configuration, per vhost or server-wide, wins.</summary>
    [Parameter]
    [ValidateRange(1, 86400)]
    public int WorkerIdleTimeoutSeconds { get; set; } = 30;

    /// <summary>Workers each user's pool starts with.</summary>
    [Parameter]
    [ValidateRange(1, 64)]
    public int MinWorkers { get; set; } = 1;

    /// <summary>Workers a busy user's pool may grow to; another starts when each has 64 connections.</summary>
    [Parameter]
    [ValidateRange(1, 64)]
    public int MaxWorkers { get; set; } = 1;

    /// <summary>PHP processes per worker: the most children its php-fpm (pm = ondemand) may start, or php-cgi children when itkd runs php-cgi.</summary>
    [Parameter]
    [ValidateRange(1, 256)]
    public int PhpChildren { get; set; } = 4;

    /// <summary>Writes the server once it is listening.</summary>
    [Parameter] public SwitchParameter PassThru { get; set; }

    protected override void EndProcessing()
    {
        string config = ParameterSetName == "ConfigPath" ? Path.GetFullPath(ResolvePath(ConfigPath)) : MainFileOf(ConfigRoot);
        string socketPath = ControlSocket is null ? SocketFor(config) : ResolvePath(ControlSocket);
        string itkd = ItkdPath is not null ? ResolvePath(ItkdPath) : ModuleInitializer.ShippedItkd;
        string log = ResolvePath(LogPath);
        // Non-terminating, as for one item of a pipeline: -ErrorAction decides, so
        // "Start-ItkServer -ErrorAction SilentlyContinue" means "start it unless it runs".
        if (!File.Exists(config)) { WriteError(Errors.FileNotFound(ErrorIds.ConfigNotFound, config, $"Configuration '{config}' does not exist.")); return; }
        if (!File.Exists(itkd)) { WriteError(Errors.FileNotFound(ErrorIds.ItkdNotFound, itkd, $"itkd not found at '{itkd}'; give -ItkdPath.")); return; }
        if (TryStatus(socketPath) is { } running)
        {
            WriteError(Errors.Exists(ErrorIds.ServerAlreadyRunning, new ServerInfo(running),
                $"itkd {running.Pid} already answers on {socketPath}; stop it first or give another -ControlSocket."));
            return;
        }
        if (!ShouldProcess(config, $"Start itkd (control socket {socketPath}, log {log})")) return;

        Directory.CreateDirectory(Path.GetDirectoryName(log)!);
        long logStart = File.Exists(log) ? new FileInfo(log).Length : 0;
        // setsid: its own session, so the server outlives this PowerShell; the shell only redirects, then is replaced.
        var psi = new ProcessStartInfo("setsid") { UseShellExecute = false };
        foreach (var a in new[] { "/bin/sh", "-c", "exec \"$0\" \"$@\" >>\"$LOG\" 2>&1 </dev/null", itkd, "--config", config, "--control-socket", socketPath, "--worker-idle-timeout", WorkerIdleTimeoutSeconds.ToString(),
            "--min-workers", MinWorkers.ToString(), "--max-workers", Math.Max(MinWorkers, MaxWorkers).ToString(),
            "--php-children", PhpChildren.ToString() })
            psi.ArgumentList.Add(a);
        psi.Environment["LOG"] = log;
        using var process = Process.Start(psi)!;

        bool up = WaitFor(() => process.HasExited || TryStatus(socketPath) is not null, TimeSpan.FromSeconds(TimeoutSeconds));
        var status = TryStatus(socketPath);
        if (status is null)
        {
            string output = ReadFrom(log, logStart);
            if (!process.HasExited) { try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { } }
            string why = up ? "itkd exited" : $"itkd did not answer within {TimeoutSeconds} s";
            WriteError(Errors.InvalidOperation(ErrorIds.ServerStartFailed, ErrorCategory.InvalidOperation, config, $"{why}:{Environment.NewLine}{LastErrors(output)}"));
            return;
        }
        WriteVerbose($"itkd {status!.Pid} listening on {string.Join(", ", status.Listeners)}");
        if (PassThru) WriteObject(new ServerInfo(status));
    }

    private static string ReadFrom(string path, long offset)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        fs.Seek(offset, SeekOrigin.Begin);
        return new StreamReader(fs).ReadToEnd();
    }

    /// <summary>The server's own error lines ("itkd: file:line: error: ..."), else the log's end.</summary>
    private static string LastErrors(string output)
    {
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var errors = lines.Where(l => l.StartsWith("itkd: ", StringComparison.Ordinal)).ToList();
        return string.Join(Environment.NewLine, errors.Count > 0 ? errors : lines.TakeLast(10));
    }
}
