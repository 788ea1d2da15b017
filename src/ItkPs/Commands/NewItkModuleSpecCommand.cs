using System.Management.Automation;
using ItkPs.Core.Config;
using ItkPs.Core.Spec;

namespace ItkPs.Commands;

/// <summary>Writes a spec that builds mpm-itk 2.4 as mod_mpm_itk.so for a distribution's httpd 2.4.</summary>
/// <remarks>
/// <para>On httpd 2.4 distributions mpm-itk is a loadable module on top of prefork. The spec builds the mpm-itk release against httpd-devel with apxs and packages mod_mpm_itk.so and the LoadModule file 00-mpm-itk.conf, which is written next to the spec as its Source1. Writes a FileInfo for each of the two files.</para>
/// </remarks>
/// <example>
/// <code>New-ItkModuleSpec -Path ~/rpmbuild/SPECS/httpd-itk.spec; rpmbuild -ba ~/rpmbuild/SPECS/httpd-itk.spec</code>
/// <para>Writes the spec and 00-mpm-itk.conf, then builds with the distribution's rpmbuild.</para>
/// </example>
/// <seealso cref="BuildItkRpmCommand"/>
[Cmdlet(VerbsCommon.New, "ItkModuleSpec", SupportsShouldProcess = true)]
[OutputType(typeof(FileInfo))]
public sealed class NewItkModuleSpecCommand : PSCmdlet
{
    /// <summary>Where to write the spec; 00-mpm-itk.conf (Source1) is written into the same folder.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    /// <summary>The mpm-itk 2.4 release.</summary>
    [Parameter]
    [ValidatePattern(@"^\d+\.\d+\.\d+-\d+$")]
    public string ItkVersion { get; set; } = ModuleSpec.DefaultVersion;

    /// <summary>Replace an existing spec (the old one is kept as .bak).</summary>
    [Parameter] public SwitchParameter Force { get; set; }

    protected override void EndProcessing()
    {
        string spec = SessionState.Path.GetUnresolvedProviderPathFromPSPath(Path);
        string conf = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(spec)!, "00-mpm-itk.conf");
        if (File.Exists(spec) && !Force)
            ThrowTerminatingError(Errors.FileExists(ErrorIds.SpecExists, spec, $"'{spec}' exists; use -Force to replace it (the old one is kept as .bak)."));
        if (!ShouldProcess(spec, $"Write a spec for mpm-itk {ItkVersion} (mod_mpm_itk.so) and {conf}")) return;
        try
        {
            AtomicFile.Write(spec, ModuleSpec.Text(ItkVersion));
            AtomicFile.Write(conf, ModuleSpec.LoadModuleConf);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            ThrowTerminatingError(Errors.Io(ErrorIds.ConfigWriteFailed, write: true, spec, $"Cannot write '{spec}' and '{conf}': {e.Message}", e));
        }
        // As the FileSystem provider's items (what New-Item writes), so they show as Get-ChildItem shows files.
        WriteObject(InvokeProvider.Item.Get(spec), enumerateCollection: true);
        WriteObject(InvokeProvider.Item.Get(conf), enumerateCollection: true);
    }
}
