<# block comment #>
Write-Host #predefined.profile.name#
