using System.Management.Automation;
using ItkPs.Core.Config;
using ItkPs.Core.Spec;

namespace ItkPs.Commands;

/// <summary>New-ItkModuleSpec: a spec for mpm-itk 2.4 as mod_mpm_itk.so, plus its 00-mpm-itk.conf beside it.</summary>
[Cmdlet(VerbsCommon.New, "ItkModuleSpec", SupportsShouldProcess = true)]
[OutputType(typeof(FileInfo))]
public sealed class NewItkModuleSpecCommand : PSCmdlet
{
    /// <summary>Where to write the spec; 00-mpm-itk.conf (Source1) is written into the same folder.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    [Parameter]
    [ValidatePattern(@"^\d+\.\d+\.\d+-\d+$")]
    public string ItkVersion { get; set; } = ModuleSpec.DefaultVersion;

    [Parameter] public SwitchParameter Force { get; set; }

    protected override void EndProcessing()
    {
        string spec = SessionState.Path.GetUnresolvedProviderPathFromPSPath(Path);
        string conf = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(spec)!, "00-mpm-itk.conf");
        if (File.Exists(spec) && !Force)
            ThrowTerminatingError(new ErrorRecord(new IOException($"'{spec}' exists; use -Force to replace it (the old one is kept as .bak)."), "SpecExists", ErrorCategory.ResourceExists, spec));
        if (!ShouldProcess(spec, $"Write a spec for mpm-itk {ItkVersion} (mod_mpm_itk.so) and {conf}")) return;
        AtomicFile.Write(spec, ModuleSpec.Text(ItkVersion));
        AtomicFile.Write(conf, ModuleSpec.LoadModuleConf);
        WriteObject(new FileInfo(spec));
        WriteObject(new FileInfo(conf));
    }
}
