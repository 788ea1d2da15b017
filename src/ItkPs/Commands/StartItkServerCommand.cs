using System.Diagnostics;
using System.Management.Automation;
using ItkPs.Core.Hosting;

namespace ItkPs.Commands;

/// <summary>
/// Start-ItkServer: starts itkd detached (its own session, output to -LogPath) and returns once
/// it answers on its control socket, or fails with the server's own error lines.
/// </summary>
[Cmdlet(VerbsLifecycle.Start, "ItkServer", SupportsShouldProcess = true, DefaultParameterSetName = "ConfigRoot")]
[OutputType(typeof(ServerStatus))]
public sealed class StartItkServerCommand : ServerCmdlet
{
    [Parameter(ParameterSetName = "ConfigRoot")]
    [ValidateNotNullOrEmpty]
    public string? ConfigRoot { get; set; }

    /// <summary>A main configuration file instead of the config root's itkps.conf.</summary>
    [Parameter(Mandatory = true, ParameterSetName = "ConfigPath")]
    [ValidateNotNullOrEmpty]
    public string ConfigPath { get; set; } = "";

    /// <summary>Where itkd's log goes.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string LogPath { get; set; } = "/var/log/itkd.log";

    /// <summary>The itkd executable. Default: the one shipped with the module.</summary>
    [Parameter]
    public string? ItkdPath { get; set; }

    [Parameter]
    [ValidateRange(1, 600)]
    public int TimeoutSeconds { get; set; } = 30;

    /// <summary>Seconds a user's worker pool may sit idle before itkd reaps it.</summary>
    [Parameter]
    [ValidateRange(1, 86400)]
    public int WorkerIdleTimeoutSeconds { get; set; } = 300;

    /// <summary>Workers each user's pool starts with.</summary>
    [Parameter]
    [ValidateRange(1, 64)]
    public int MinWorkers { get; set; } = 1;

    /// <summary>Workers a busy user's pool may grow to (another starts when each has 64 connections).</summary>
    [Parameter]
    [ValidateRange(1, 64)]
    public int MaxWorkers { get; set; } = 1;

    /// <summary>php-cgi processes each worker starts on its first PHP request.</summary>
    [Parameter]
    [ValidateRange(1, 256)]
    public int PhpChildren { get; set; } = 4;

    [Parameter] public SwitchParameter PassThru { get; set; }

    protected override void EndProcessing()
    {
        string config = ParameterSetName == "ConfigPath"
            ? SessionState.Path.GetUnresolvedProviderPathFromPSPath(ConfigPath)
            : Core.Hosting.ConfigRoot.Resolve(ConfigRoot is null ? null : SessionState.Path.GetUnresolvedProviderPathFromPSPath(ConfigRoot)).MainFile;
        string itkd = ItkdPath is not null ? SessionState.Path.GetUnresolvedProviderPathFromPSPath(ItkdPath)
            : Path.Combine(Path.GetDirectoryName(typeof(StartItkServerCommand).Assembly.Location)!, "itkd", "itkd");
        string log = SessionState.Path.GetUnresolvedProviderPathFromPSPath(LogPath);
        if (!File.Exists(config)) ThrowTerminatingError(new ErrorRecord(new FileNotFoundException($"Configuration '{config}' does not exist.", config), "ConfigNotFound", ErrorCategory.ObjectNotFound, config));
        if (!File.Exists(itkd)) ThrowTerminatingError(new ErrorRecord(new FileNotFoundException($"itkd not found at '{itkd}'; give -ItkdPath.", itkd), "ItkdNotFound", ErrorCategory.ObjectNotFound, itkd));
        if (TryStatus() is { } running)
            ThrowTerminatingError(new ErrorRecord(new InvalidOperationException($"itkd {running.Pid} already answers on {SocketPath}; stop it first or give another -ControlSocket."), "ServerAlreadyRunning", ErrorCategory.ResourceExists, running));
        if (!ShouldProcess(config, $"Start itkd (control socket {SocketPath}, log {log})")) return;

        Directory.CreateDirectory(Path.GetDirectoryName(log)!);
        long logStart = File.Exists(log) ? new FileInfo(log).Length : 0;
        // setsid: its own session, so the server outlives this PowerShell; the shell only redirects, then is replaced.
        var psi = new ProcessStartInfo("setsid") { UseShellExecute = false };
        foreach (var a in new[] { "/bin/sh", "-c", "exec \"$0\" \"$@\" >>\"$LOG\" 2>&1 </dev/null", itkd, "--config", config, "--control-socket", SocketPath, "--worker-idle-timeout", WorkerIdleTimeoutSeconds.ToString(),
            "--min-workers", MinWorkers.ToString(), "--max-workers", Math.Max(MinWorkers, MaxWorkers).ToString(),
            "--php-children", PhpChildren.ToString() })
            psi.ArgumentList.Add(a);
        psi.Environment["LOG"] = log;
        using var process = Process.Start(psi)!;

        bool up = WaitFor(() => process.HasExited || TryStatus() is not null, TimeSpan.FromSeconds(TimeoutSeconds));
        var status = TryStatus();
        if (status is null)
        {
            string output = ReadFrom(log, logStart);
            if (!process.HasExited) { try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { } }
            string why = up ? "itkd exited" : $"itkd did not answer within {TimeoutSeconds} s";
            ThrowTerminatingError(new ErrorRecord(new InvalidOperationException($"{why}:{Environment.NewLine}{LastErrors(output)}"), "ServerStartFailed", ErrorCategory.InvalidOperation, config));
        }
        WriteVerbose($"itkd {status!.Pid} listening on {string.Join(", ", status.Listeners)}");
        if (PassThru) WriteObject(status);
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
