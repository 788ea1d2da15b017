using System.Management.Automation;
using ItkPs.Core.Config;
using ItkPs.Core.Hosting;
using Mono.Unix.Native;

namespace ItkPs.Commands;

/// <summary>
/// Common ground of Set-ItkCertificate and Request-ItkCertificate: the TLS vhosts of a name, pointing
/// a vhost at a pair's files, and -Reload (SIGHUP to the itkd on -ControlSocket, waiting for its answer
/// as Restart-ItkServer does) for when the vhost's files changed name.
/// </summary>
public abstract class CertificateCmdlet : VhostTargetCmdlet
{
    /// <summary>After the change, reload the itkd answering on -ControlSocket (needed when the vhost points at new paths).</summary>
    [Parameter] public SwitchParameter Reload { get; set; }

    /// <summary>itkd's root-only control socket, for -Reload.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string ControlSocket { get; set; } = ServerControl.DefaultSocket;

    /// <summary>Writes the vhost's certificate as Get-ItkCertificate describes it.</summary>
    [Parameter] public SwitchParameter PassThru { get; set; }

    /// <summary>
    /// The TLS vhosts to act on: for each name, every vhost of that ServerName that is a TLS vhost
    /// (a site usually also has a cleartext vhost of the same name, for HTTP-01 and redirects);
    /// VhostNotFound when a name has none.
    /// </summary>
    protected IEnumerable<VirtualHost> TlsTargets()
    {
        string? configFile = ParameterSetName == "InputObject" ? InputObject.Select(v => v.ConfigFile).FirstOrDefault(f => f is not null) : ConfigFile;
        var config = ConfigRoot is null && configFile is not null && File.Exists(ResolvePath(configFile)) ? new ConfigReader().Read(ResolvePath(configFile)) : Root.Read();
        var names = ParameterSetName == "InputObject" ? InputObject.Select(v => v.Name).Distinct(StringComparer.OrdinalIgnoreCase).ToArray() : Name;
        foreach (var name in names)
        {
            var all = config.VirtualHosts.Where(v => string.Equals(v.Name, name, StringComparison.OrdinalIgnoreCase)).ToList();
            var tls = all.Where(IsTlsVhost).ToList();
            if (all.Count == 0) WriteError(Errors.NotFound(ErrorIds.VhostNotFound, name, $"No vhost named '{name}' in {Path.GetDirectoryName(config.MainFile)}. Get-ItkVhost lists the vhosts there."));
            else if (tls.Count == 0) CheckTlsVhost(all[0]);
            foreach (var vh in tls) yield return vh;
        }
    }

    private static bool IsTlsVhost(VirtualHost vh) => vh.Tls.Engine || vh.Addresses.All(a => a.Port == 443);

    /// <summary>Whether a vhost can take a certificate: SSLEngine on already, or every address of it on port 443.</summary>
    protected bool CheckTlsVhost(VirtualHost vh)
    {
        if (IsTlsVhost(vh)) return true;
        WriteError(Errors.InvalidOperation(ErrorIds.NotTlsVhost, ErrorCategory.InvalidArgument, vh.Name,
            $"{vh.Name} ({vh.File}:{vh.Line}) is not a TLS vhost (no SSLEngine on, port {string.Join(", ", vh.Addresses.Select(a => a.Port))}). New-ItkVhost -Name {vh.Name} -Tls -Listen *:443 writes one beside it."));
        return false;
    }

    /// <summary>Points the vhost at a pair's files (SSLEngine on); false when nothing needed to change or the write failed.</summary>
    protected bool PointAt(VirtualHost vh, string certificateFile, string? keyFile)
    {
        if (vh.Tls.Engine && vh.Tls.CertificateFile == certificateFile && vh.Tls.KeyFile == keyFile && vh.Tls.ChainFile is null) return false;
        if (OpenEditor(vh) is not { } editor) return false;
        Core.Tls.TlsVhostText.Apply(editor, certificateFile, keyFile);
        return TryWrite(vh.File, editor.ToText(), vh.Name);
    }

    /// <summary>The vhost as its file says now (same file, same line), for -PassThru.</summary>
    protected VirtualHost? Current(VirtualHost vh) =>
        (vh.ConfigFile is not null && File.Exists(vh.ConfigFile) ? new ConfigReader().Read(vh.ConfigFile) : Root.Read())
            .VirtualHosts.FirstOrDefault(v => v.File == vh.File && v.Line == vh.Line);

    /// <summary>SIGHUP to the running itkd, and its verdict; a rejected reload is ReloadRejected, with itkd's file:line reasons.</summary>
    protected void ReloadServer()
    {
        string socket = ResolvePath(ControlSocket);
        var before = ServerControl.TryStatus(socket, TimeSpan.FromSeconds(5));
        if (before is null)
        {
            WriteError(Errors.InvalidOperation(ErrorIds.ServerNotRunning, ErrorCategory.ResourceUnavailable, socket, $"-Reload: no itkd answers on {socket}; the change is written and served once itkd (re)starts."));
            return;
        }
        Syscall.kill(before.Pid, Signum.SIGHUP);
        var end = DateTime.UtcNow.AddSeconds(15);
        Core.Hosting.ServerStatus? after = null;
        while (DateTime.UtcNow < end && !((after = ServerControl.TryStatus(socket, TimeSpan.FromSeconds(5))) is { } s && s.LastReloadAt != before.LastReloadAt))
            Thread.Sleep(50);
        if (after is null || after.LastReloadAt == before.LastReloadAt || after.LastReloadOk != true)
            WriteError(Errors.InvalidOperation(ErrorIds.ReloadRejected, ErrorCategory.InvalidData, before.ConfigFile,
                $"itkd {before.Pid} kept generation {before.Generation}: {(after?.LastReloadOk == false ? after.LastReloadMessage : "no reload reported within 15 s")}"));
    }
}
