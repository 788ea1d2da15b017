# Source manifest of the ItkPs module. ModuleVersion is filled in from Directory.Build.props
# (the one version source) when build.ps1 stages the module into out/ItkPs.
@{
    RootModule           = 'ItkPs.dll'
    ModuleVersion        = '0.0.0'
    GUID                 = '6f0f7a53-3c1e-4e0e-9b58-1c2f4e7d9a41'
    Author               = 'ItkPs contributors'
    Copyright            = '(c) ItkPs contributors. MIT License.'
    Description          = 'Per-user isolation for Linux shared hosting: vhosts in Apache syntax for Apache + mpm-itk and the itkd server, scripted from PowerShell.'
    PowerShellVersion    = '7.4'
    CompatiblePSEditions = @('Core')
    FormatsToProcess     = @('ItkPs.Format.ps1xml')
    CmdletsToExport      = @(
        'New-ItkVhost'
        'Get-ItkVhost'
        'Set-ItkVhost'
        'Remove-ItkVhost'
        'Set-ItkUser'
        'Test-ItkConfig'
        'Test-ItkVhost'
        'Edit-ItkSpec'
        'Build-ItkRpm'
        'Enable-ItkHttpd'
        'Disable-ItkHttpd'
        'New-ItkModuleSpec'
        'Start-ItkServer'
        'Stop-ItkServer'
        'Get-ItkServer'
        'Restart-ItkServer'
        'Set-ItkCertificate'
        'Get-ItkCertificate'
        'Request-ItkCertificate'
    )
    FunctionsToExport    = @()
    AliasesToExport      = @()
    VariablesToExport    = @()
    PrivateData          = @{
        PSData = @{
            Tags       = @('Apache', 'mpm-itk', 'hosting', 'Linux', 'isolation')
            ProjectUri = 'https://example.invalid/itkps'
        }
    }
}
