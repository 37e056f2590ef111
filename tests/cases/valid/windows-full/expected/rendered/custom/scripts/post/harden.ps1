<# block comment #>
Write-Host win-case
